import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BINARY_HEADER_BYTES,
  BINARY_MAX_PAYLOAD,
  BINARY_MAX_SEQ,
  BinaryFrameType,
  BinaryProtocolError,
  HeaderOffset,
  crc32,
  encodeFrame,
  readHeader,
} from '../src/binary/index.js';

const hex = (u8: Uint8Array): string => Buffer.from(u8).toString('hex');

test('header: offsets and widths are pinned', () => {
  assert.equal(BINARY_HEADER_BYTES, 16);
  assert.deepEqual(HeaderOffset, { Magic: 0, Version: 1, Type: 2, Compression: 3, Crc: 4, Length: 8, Seq: 11 });
  assert.equal(BINARY_MAX_PAYLOAD, 2 ** 24 - 1);
  assert.equal(BINARY_MAX_SEQ, 2 ** 40 - 1);
});

test('header: a message frame, byte by byte', () => {
  const payload = { id: 'm1', data: 1, ts: 5 };
  const json = new TextEncoder().encode(JSON.stringify(payload));
  const frame = encodeFrame(BinaryFrameType.Message, payload, { seq: 0x01_0203_0405 });
  const crc = crc32(json);
  assert.equal(frame.length, 16 + json.length);
  assert.deepEqual(
    [...frame.subarray(0, 16)],
    [
      0x48, // magic 'H'
      0x02, // version 2
      0x02, // type: message
      0x00, // compression: none
      crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff, // CRC32 BE
      0x00, 0x00, json.length, // length u24 BE
      0x01, 0x02, 0x03, 0x04, 0x05, // seq u40 BE
    ],
  );
  assert.equal(hex(frame.subarray(16)), hex(json));
  // A literal vector, so a change of JSON or CRC behaviour shows up too.
  assert.equal(hex(frame.subarray(0, 16)), '48020200' + crc.toString(16).padStart(8, '0') + '00001b' + '0102030405');
  assert.equal(crc, 0x5fb8a298); // zlib.crc32 of the same JSON
});

test('header: an ack carries its seq in the header and nothing else', () => {
  assert.equal(hex(encodeFrame(BinaryFrameType.Ack, null, { seq: 300 })), '48024200' + '00000000' + '000000' + '000000012c');
  assert.equal(hex(encodeFrame(BinaryFrameType.Ack, null, { seq: BINARY_MAX_SEQ })), '48024200' + '00000000' + '000000' + 'ffffffffff');
  assert.equal(hex(encodeFrame(BinaryFrameType.Ping, null)), '48024800' + '00000000' + '000000' + '0000000000');
});

test('readHeader: parses the largest values', () => {
  const h = new Uint8Array([0x48, 0x02, 0x02, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  assert.deepEqual(readHeader(h), { type: 2, compression: 'deflate', crc: 0xffffffff, length: 2 ** 24 - 1, seq: 2 ** 40 - 1 });
});

test('readHeader: rejects short, foreign and future headers with typed codes', () => {
  const ok = encodeFrame(BinaryFrameType.Ping, null);
  const code = (bytes: Uint8Array): string => {
    try {
      readHeader(bytes);
      return 'ok';
    } catch (err) {
      assert.ok(err instanceof BinaryProtocolError);
      return err.code;
    }
  };
  assert.equal(code(ok), 'ok');
  assert.equal(code(ok.subarray(0, 15)), 'truncated');
  assert.equal(code(new Uint8Array(0)), 'truncated');
  const patch = (i: number, v: number): Uint8Array => {
    const c = ok.slice();
    c[i] = v;
    return c;
  };
  assert.equal(code(patch(0, 0x7b)), 'bad_magic'); // '{': a JSON text frame sent as binary
  assert.equal(code(patch(1, 0x01)), 'bad_version');
  assert.equal(code(patch(1, 0x03)), 'bad_version');
  assert.equal(code(patch(3, 0x03)), 'bad_compression');
  assert.equal(code(patch(3, 0xff)), 'bad_compression');
});
