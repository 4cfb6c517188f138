/**
 * The Batch frame (0x0a, issue 20): whole uncompressed Message/MessageBytes
 * frames back to back, compressed as a whole; its v1 shape is
 * {"type":"batch","messages":[…]}.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import type { BatchFrame } from '../src/frames.js';
import { BinaryFrameType, BinaryProtocolError, type Compressor, decodeFrame, decodeFrameAsync, encodeFrame, encodeV1, toV1 } from '../src/binary/index.js';
import { codeOf } from './codeOf.js';

const deflate: Compressor = {
  name: 'deflate',
  compress: (u8) => zlib.deflateRawSync(u8),
  decompress: (u8, max) => zlib.inflateRawSync(u8, { maxOutputLength: max }),
};

const batch: BatchFrame = {
  type: 'batch',
  messages: [
    { type: 'message', id: '1', room: 'hot', data: { i: 1 }, ts: 10 },
    { type: 'message', id: '2', room: 'hot', data_b64: 'AAEC/w==', ts: 11 } as unknown as BatchFrame['messages'][number],
    { type: 'message', id: '3', room: 'hot', data: 'x'.repeat(2000), ts: 12, seq: 5 },
  ],
};

test('batch: v1 → v2 → v1 keeps every message, in order, bytes and seq included', () => {
  const bytes = encodeV1(batch, 'server');
  assert.equal(bytes[2], BinaryFrameType.Batch);
  assert.deepEqual(toV1(decodeFrame(bytes, { sender: 'server' })), batch);
});

test('batch: the payload is the messages’ own v2 frames back to back (what the server concatenates)', () => {
  const inner = batch.messages.map((m) => encodeV1(m, 'server'));
  const concatenated = Buffer.concat(inner);
  const built = encodeFrame(BinaryFrameType.Batch, concatenated);
  assert.deepEqual(built, encodeV1(batch, 'server'));
  assert.deepEqual(toV1(decodeFrame(built)), batch);
});

test('batch: compressed as a whole, decoded with the negotiated codec (sync and async)', async () => {
  const bytes = encodeV1(batch, 'server', { compressor: deflate, threshold: 64 });
  assert.equal(bytes[3], 1, 'deflate');
  assert.deepEqual(toV1(decodeFrame(bytes, { compressor: deflate })), batch);
  assert.deepEqual(toV1(await decodeFrameAsync(bytes, { compressor: deflate })), batch);
  assert.equal(codeOf(() => decodeFrame(bytes)), 'bad_compression', 'not negotiated');
});

test('batch: an empty batch decodes to no messages', () => {
  assert.deepEqual(toV1(decodeFrame(encodeFrame(BinaryFrameType.Batch, new Uint8Array(0)))), { type: 'batch', messages: [] });
});

test('batch: entries that are not uncompressed messages, or do not add up, are bad frames', () => {
  const reply = encodeV1({ type: 'reply', id: 'x', ok: true }, 'server');
  assert.equal(codeOf(() => decodeFrame(encodeFrame(BinaryFrameType.Batch, reply))), 'bad_payload');
  const nested = encodeV1(batch, 'server');
  assert.equal(codeOf(() => decodeFrame(encodeFrame(BinaryFrameType.Batch, nested))), 'bad_payload', 'no batch inside a batch');
  const compressedInner = encodeV1(batch.messages[2]!, 'server', { compressor: deflate, threshold: 1 });
  assert.equal(compressedInner[3], 1);
  assert.equal(codeOf(() => decodeFrame(encodeFrame(BinaryFrameType.Batch, compressedInner), { compressor: deflate })), 'bad_payload');
  const one = encodeV1(batch.messages[0]!, 'server');
  assert.equal(codeOf(() => decodeFrame(encodeFrame(BinaryFrameType.Batch, one.subarray(0, one.length - 1)))), 'truncated');
  assert.equal(codeOf(() => decodeFrame(encodeFrame(BinaryFrameType.Batch, Buffer.concat([one, Buffer.from([0x48, 0x02])])))), 'truncated');
  const corrupt = Uint8Array.from(one);
  corrupt[corrupt.length - 2] = corrupt[corrupt.length - 2]! ^ 0xff;
  assert.equal(codeOf(() => decodeFrame(encodeFrame(BinaryFrameType.Batch, corrupt))), 'crc_mismatch', 'each entry’s CRC is checked');
});

test('batch: encoding checks its shape (caller bugs are TypeErrors)', () => {
  assert.throws(() => encodeFrame(BinaryFrameType.Batch, { messages: [{ type: 'reply', id: 'x' }] }), TypeError);
  assert.throws(() => encodeFrame(BinaryFrameType.Batch, { messages: [], extra: 1 }), TypeError);
  assert.throws(() => encodeFrame(BinaryFrameType.Batch, { list: [] }), TypeError);
  assert.throws(() => decodeFrame(encodeV1(batch, 'server'), { sender: 'client' }), BinaryProtocolError);
});
