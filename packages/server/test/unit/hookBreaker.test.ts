/** The hook circuit breaker and the bounded slots, with a fake clock: every transition. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker, type BreakerState } from '../../src/hooks/breaker.js';
import { SlotError, Slots } from '../../src/hooks/slots.js';
import { FrameOrder } from '../../src/hooks/frameOrder.js';

test('breaker: K consecutive failures open it; open refuses; after T one probe; probe success closes, failure reopens', () => {
  let now = 0;
  const moves: string[] = [];
  const b = new CircuitBreaker({ failures: 3, openMs: 1000, now: () => now, onChange: (to: BreakerState, from: BreakerState) => moves.push(`${from}>${to}`) });
  b.admit();
  b.failure();
  b.admit();
  b.success(); // a success resets the count
  for (let i = 0; i < 2; i++) {
    b.admit();
    b.failure();
  }
  assert.equal(b.current, 'closed');
  b.admit();
  b.failure();
  assert.equal(b.current, 'open');
  assert.equal(b.admit(), false);
  now = 999;
  assert.equal(b.admit(), false);
  now = 1000;
  assert.equal(b.admit(), 'probe');
  assert.equal(b.admit(), false, 'one probe at a time');
  b.failure();
  assert.equal(b.current, 'open', 'a failed probe reopens');
  now = 2000;
  const p = b.admit();
  assert.equal(p, 'probe');
  b.release('probe'); // gave up before reaching the backend: the next call probes
  assert.equal(b.admit(), 'probe');
  b.success();
  assert.equal(b.current, 'closed');
  assert.deepEqual(moves, ['closed>open', 'open>half_open', 'half_open>open', 'open>half_open', 'half_open>closed']);
});

test('slots: at most max in flight, FIFO queue bounded, waits time out and leave the queue', async () => {
  const s = new Slots(1, 2);
  assert.equal(s.acquire(1000), undefined);
  const order: number[] = [];
  const a = s.acquire(1000)!.then(() => order.push(1));
  const timedOut = s.acquire(20)!.catch((e: unknown) => e);
  await assert.rejects(s.acquire(1000)!, (e: unknown) => e instanceof SlotError && e.reason === 'queue_full');
  const err = await timedOut;
  assert.ok(err instanceof SlotError && err.reason === 'queue_timeout');
  assert.equal(s.queued, 1);
  const b = s.acquire(1000)!.then(() => order.push(2));
  s.release();
  await a;
  s.release();
  await b;
  assert.deepEqual(order, [1, 2]);
  assert.equal(s.inFlight, 1);
  s.release();
  assert.equal(s.inFlight, 0);
});

test('frame order: tasks of a key run in order behind an asynchronous one; the bound refuses; idle keys hold nothing', async () => {
  const errors: unknown[] = [];
  const o = new FrameOrder<object>(3, (_k, e) => errors.push(e));
  const k = {};
  const seen: string[] = [];
  let release!: () => void;
  assert.ok(o.run(k, () => new Promise<void>((r) => (release = () => (seen.push('slow'), r())))));
  assert.ok(o.run(k, () => void seen.push('sync')));
  assert.ok(o.run(k, () => { throw new Error('bug'); }));
  assert.equal(o.run(k, () => void seen.push('over')), false, 'over the bound');
  assert.equal(o.pending(k), 3);
  release();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, ['slow', 'sync']);
  assert.equal(errors.length, 1);
  assert.equal(o.pending(k), 0);
  assert.ok(o.run(k, () => void seen.push('now')));
  assert.deepEqual(seen, ['slow', 'sync', 'now'], 'runs at once when idle');
});
