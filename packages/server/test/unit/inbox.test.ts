import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryInboxStore } from '../../src/engine/memory/inbox.js';
import { createPayloadCodec } from '../../src/engine/payloadCodec.js';

const R = { maxMessages: 5, maxAgeMs: 1000 };
const msg = (ts: number, extra: Record<string, unknown> = {}) => ({ id: 'x', ts, data: '1', ...extra });

test('seqs are per user and strictly increasing; tenants are separate', () => {
  const s = new MemoryInboxStore();
  assert.equal(s.append('t', 'a', msg(0), R, 0).seq, 1);
  assert.equal(s.append('t', 'a', msg(0), R, 0).seq, 2);
  assert.equal(s.append('t', 'b', msg(0), R, 0).seq, 1);
  assert.equal(s.append('t2', 'a', msg(0), R, 0).seq, 1);
});

test('readAfter returns messages after a seq, at most limit, with tip and floor', () => {
  const s = new MemoryInboxStore();
  for (let i = 0; i < 4; i++) s.append('t', 'a', msg(0), R, 0);
  const r = s.readAfter('t', 'a', 1, 2, R, 0);
  assert.deepEqual(r.messages.map((m) => m.seq), [2, 3]);
  assert.equal(r.tip, 4);
  assert.equal(r.floor, 0);
  assert.deepEqual(s.readAfter('t', 'a', 4, 10, R, 0).messages, []);
  assert.deepEqual(s.readAfter('t', 'nobody', 0, 10, R, 0), { messages: [], tip: 0, floor: 0 });
});

test('count retention drops the oldest and raises the floor', () => {
  const s = new MemoryInboxStore();
  for (let i = 0; i < 8; i++) s.append('t', 'a', msg(0), R, 0);
  const r = s.readAfter('t', 'a', 0, 100, R, 0);
  assert.deepEqual(r.messages.map((m) => m.seq), [4, 5, 6, 7, 8]);
  assert.equal(r.floor, 3);
});

test('age retention drops old messages and raises the floor', () => {
  const s = new MemoryInboxStore();
  s.append('t', 'a', msg(0), R, 0);
  s.append('t', 'a', msg(500), R, 500);
  const r = s.readAfter('t', 'a', 0, 100, R, 1200);
  assert.deepEqual(r.messages.map((m) => m.seq), [2]);
  assert.equal(r.floor, 1);
});

test('per-message ttl hides expired messages without raising the floor', () => {
  const s = new MemoryInboxStore();
  s.append('t', 'a', msg(0, { expiresAt: 100 }), R, 0);
  s.append('t', 'a', msg(0), R, 0);
  s.append('t', 'a', msg(0, { expiresAt: 100 }), R, 0);
  const r = s.readAfter('t', 'a', 0, 100, R, 200);
  assert.deepEqual(r.messages.map((m) => m.seq), [2]);
  assert.equal(r.floor, 0);
  assert.equal(r.tip, 3);
});

test('compaction keeps reads correct over long runs', () => {
  const s = new MemoryInboxStore();
  for (let i = 0; i < 10_000; i++) s.append('t', 'a', msg(0), R, 0);
  const r = s.readAfter('t', 'a', 9997, 10, R, 0);
  assert.deepEqual(r.messages.map((m) => m.seq), [9998, 9999, 10000]);
  assert.equal(s.depth(), 5);
});

test('a stored message is the published one with its seq, optional fields included, plain or compressed', () => {
  const full = { id: 'f', ts: 1, data: '{"a":1}', binary: true, event: 'e', expiresAt: 99, device: 'd', platform: 'web' };
  for (const codec of [undefined, createPayloadCodec({ codec: 'deflate', thresholdBytes: 64 })]) {
    const s = new MemoryInboxStore(0, codec);
    const big = JSON.stringify({ text: 'x'.repeat(500) });
    const stored = [s.append('t', 'a', msg(0), R, 0), s.append('t', 'a', full, R, 0), s.append('t', 'a', { ...full, data: big }, R, 0)];
    assert.deepEqual(stored, [{ ...msg(0), seq: 1 }, { ...full, seq: 2 }, { ...full, data: big, seq: 3 }]);
    assert.deepEqual(s.readAfter('t', 'a', 0, 10, R, 0).messages, stored);
  }
});

test('a codec stores plain every text shorter than plainBelowChars, so the inbox may skip encode for them', () => {
  for (const thresholdBytes of [0, 1, 2, 3, 4, 5, 6, 64, 1024, 1025, 1026]) {
    const codec = createPayloadCodec({ codec: 'deflate', thresholdBytes });
    const below = codec.plainBelowChars!;
    assert.ok(below >= 0, String(thresholdBytes));
    // Up to a few characters past the bound, in 1-, 2-, 3- and 4-byte UTF-8 (a surrogate pair is 2 units).
    for (const unit of ['x', 'é', '€', '😀']) {
      for (let n = 0; n * unit.length < below + 4; n++) {
        const text = unit.repeat(n);
        if (text.length < below) assert.deepEqual(codec.encode(text), { data: text }, `${thresholdBytes}: ${text.length} units of ${unit}`);
      }
    }
    // At the bound encode is called again: a text of that many 3-byte characters reaches the threshold.
    if (thresholdBytes > 0) assert.ok('€'.repeat(below).length * 3 >= thresholdBytes);
  }
  // The memory inbox at the bound: one character under it stored plain, a compressible text over the threshold compressed; both read back.
  const codec = createPayloadCodec({ codec: 'deflate', thresholdBytes: 64 });
  const s = new MemoryInboxStore(0, codec);
  const under = 'a'.repeat(codec.plainBelowChars! - 1);
  const over = 'a'.repeat(200);
  s.append('t', 'u', { id: '1', ts: 0, data: under }, R, 0);
  s.append('t', 'u', { id: '2', ts: 0, data: over }, R, 0);
  assert.deepEqual(s.readAfter('t', 'u', 0, 10, R, 0).messages.map((m) => m.data), [under, over]);
  assert.equal(s.bytes(), 2 * 96 + under.length + over.length + 2, 'accounted as published, compressed or not');
});
