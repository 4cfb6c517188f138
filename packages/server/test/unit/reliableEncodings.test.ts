/** ReliableEncodings and AckClock: the per-message bookkeeping of the reliable path (issue 20). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReliableEncodings } from '../../src/protocol/encodedFrame.js';
import { AckClock } from '../../src/observability/ackClock.js';
import type { InboxMessage } from '../../src/engine/types.js';

const message = (seq: number): InboxMessage => ({ seq, id: `m${seq}`, ts: 1, data: '{"a":1}' });

test('the devices of a live message share its encoding; a replayed message keeps one for every later read', () => {
  const enc = new ReliableEncodings();
  const m1 = message(1);
  const live = enc.of(m1, true);
  assert.equal(enc.of(m1, true), live, 'second device of the live fan-out');
  assert.equal(enc.of(m1), live, 'a read of the message just offered');
  assert.equal(live.text(), '{"type":"message","id":"m1","seq":1,"data":{"a":1},"ts":1}');
  const m2 = message(2);
  const replayed = enc.of(m2);
  enc.of(message(3), true); // another message goes live in between
  assert.equal(enc.of(m2), replayed, 'replays of one message share its encoding');
  const m4 = message(4);
  const first = enc.of(m4, true);
  enc.of(message(5), true);
  const again = enc.of(m4);
  assert.notEqual(again, first, 'a live encoding is not kept per message once the fan-out moved on');
  assert.equal(again.text(), first.text());
  assert.equal(enc.of(m4), again);
});

test('the ack clock observes an ack of the newest stored message of the user, once per ack, per tenant', () => {
  const seen: number[] = [];
  const clock = new AckClock((s) => seen.push(s), 3);
  const now = Date.now();
  clock.stored('t', 'u', 1, now - 2000);
  clock.stored('t', 'u', 2, now - 1000);
  clock.acked('t', 'u', 1); // not the newest
  clock.acked('t2', 'u', 2); // another tenant's user
  assert.deepEqual(seen, []);
  clock.acked('t', 'u', 2);
  clock.acked('t', 'u', 2); // a second device acking it
  assert.equal(seen.length, 2);
  assert.ok(seen.every((s) => s >= 0.9 && s < 60));
  assert.equal(clock.size, 1);
  clock.stored('t', 'v', 1, now);
  clock.stored('t2', 'u', 1, now);
  assert.equal(clock.size, 3);
  clock.stored('t', 'w', 1, now); // over the bound: the entries start over
  assert.equal(clock.size, 1);
  clock.acked('t', 'u', 2);
  assert.equal(seen.length, 2, 'cleared');
  clock.acked('t', 'w', 1);
  assert.equal(seen.length, 3);
});
