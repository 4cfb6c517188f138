/** The memory engine's and the room publisher's per-message shortcuts (issue 20) give what the general paths gave. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryEngine } from '../../src/engine/memory/memoryEngine.js';
import { withRoom } from '../../src/rooms/roomPublish.js';
import { messageFrame } from '../../src/protocol/serverFrames.js';

const retention = { maxMessages: 3, maxAgeMs: 60_000 };

test('setCursorNow stores what setCursor stores, and never moves a cursor backwards', async () => {
  const e = new MemoryEngine();
  e.setCursorNow('t', 'u', 'd', 5);
  e.setCursorNow('t', 'u', 'd', 3);
  assert.equal(await e.getCursor('t', 'u', 'd'), 5);
  await e.setCursor('t', 'u', 'd', 4);
  assert.equal(await e.getCursor('t', 'u', 'd'), 5);
  e.setCursorNow('t', 'u', 'd', 7);
  assert.equal(await e.getCursor('t', 'u', 'd'), 7);
  assert.deepEqual(await e.deviceCursors('t', 'u'), { count: 1, max: 7 });
});

test('append without an idempotency key stores, trims by count and accounts bytes as with one', async () => {
  const e = new MemoryEngine();
  for (let i = 1; i <= 5; i++) {
    const m = await e.append('t', 'u', { id: `m${i}`, ts: Date.now(), data: `"${'é'.repeat(i)}"` }, retention);
    assert.equal(m.seq, i);
  }
  const once = await e.append('t', 'v', { id: 'x', ts: Date.now(), data: '1' }, retention, { key: 'k', ttlMs: 1000 });
  assert.equal(once.seq, 1);
  const r = await e.readAfter('t', 'u', 0, 10, retention);
  assert.deepEqual(r.messages.map((m) => m.seq), [3, 4, 5]);
  assert.equal(r.floor, 2);
  // 96 overhead + UTF-8 bytes of data + id length, for the three held messages and the other user's one.
  const held = [3, 4, 5].reduce((n, i) => n + 96 + 2 + 2 * i + 2, 0) + (96 + 1 + 1);
  assert.equal(e.storedBytes(), held);
});

test('withRoom builds the message the spread built: the same frame text, for every set of optional fields', () => {
  const base = { id: 'i', ts: 5, data: '{"a":1}' };
  for (const m of [base, { ...base, event: 'e' }, { ...base, from: 'u1' }, { ...base, binary: true }, { ...base, binary: false }, { ...base, event: 'e', from: 'u', binary: true }]) {
    assert.equal(messageFrame(withRoom(m, 'r:1')), messageFrame({ ...m, room: 'r:1' }));
    assert.deepEqual(withRoom(m, 'r:1'), { ...m, room: 'r:1' });
  }
});
