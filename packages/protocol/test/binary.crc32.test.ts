import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { BinaryFrameType, BinaryProtocolError, crc32, decodeFrame, encodeFrame } from '../src/binary/index.js';

const SEED = Number(process.env['FC_SEED'] ?? 0x48_32_c3);
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

test('crc32: known-answer vectors (CRC-32/ISO-HDLC)', () => {
  assert.equal(crc32(ascii('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(ascii('a')), 0xe8b7be43);
  assert.equal(crc32(ascii('The quick brown fox jumps over the lazy dog')), 0x414fa339);
  assert.equal(crc32(new Uint8Array(32)), 0x190a55ad);
  assert.equal(crc32(new Uint8Array(32).fill(0xff)), 0xff6cab0b);
});

test('crc32: continues a running CRC and honours subarray views', () => {
  const all = ascii('123456789-abcdefghijklmnopq');
  for (let cut = 0; cut <= all.length; cut++) {
    assert.equal(crc32(all.subarray(cut), crc32(all.subarray(0, cut))), crc32(all), `cut at ${cut}`);
  }
  // An odd byteOffset exercises the 8-byte loop on an unaligned view.
  const view = all.subarray(3, 3 + 17);
  assert.equal(crc32(view), crc32(Uint8Array.from(view)));
});

test('crc32: agrees with zlib.crc32 on random inputs (both the 8-byte loop and the tail)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(7), (data, offset) => {
      const v = data.subarray(Math.min(offset, data.length));
      assert.equal(crc32(v), zlib.crc32(v));
    }),
    { numRuns: 2000, seed: SEED },
  );
});

test('encodeFrame/decodeFrame use a supplied crc32 (e.g. native zlib.crc32) with identical results', () => {
  const payload = { room: 'r', data: 'x'.repeat(3000) };
  let calls = 0;
  const native = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32;
  const spy = (d: Uint8Array): number => {
    calls++;
    return native ? native(d) : crc32(d);
  };
  const a = encodeFrame(BinaryFrameType.Publish, payload);
  const b = encodeFrame(BinaryFrameType.Publish, payload, { crc32: spy });
  assert.deepEqual(b, a, 'same bytes with either implementation');
  assert.equal(calls, 1);
  assert.deepEqual(decodeFrame(a, { crc32: spy }).payload, payload);
  assert.equal(calls, 2);
  // A supplied CRC is what the decoder checks against: a wrong one is a mismatch.
  assert.throws(
    () => decodeFrame(a, { crc32: () => 1 }),
    (e: unknown) => e instanceof BinaryProtocolError && e.code === 'crc_mismatch',
  );
  // Signed results (as from `^` arithmetic) are normalised to unsigned.
  assert.deepEqual(encodeFrame(BinaryFrameType.Publish, payload, { crc32: (d) => crc32(d) | 0 }), a);
});
