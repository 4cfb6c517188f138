import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimingWheel, TimerEntry } from '../../src/runtime/timingWheel.js';

/** Drives the wheel by hand: deterministic, no real time involved. */
function ticks(w: TimingWheel, n: number): void {
  for (let i = 0; i < n; i++) w.tick();
}

test('fires after the delay rounded up to ticks, once', () => {
  const w = new TimingWheel(10, 8);
  let fired = 0;
  const e = new TimerEntry(() => fired++);
  w.schedule(e, 35); // 4 ticks
  ticks(w, 3);
  assert.equal(fired, 0);
  ticks(w, 1);
  assert.equal(fired, 1);
  ticks(w, 20);
  assert.equal(fired, 1);
  assert.equal(w.size, 0);
});

test('delays longer than one turn wait the right number of rounds', () => {
  const w = new TimingWheel(10, 8);
  let at = -1;
  let t = 0;
  const e = new TimerEntry(() => (at = t));
  w.schedule(e, 10 * 21);
  for (t = 1; t <= 30; t++) w.tick();
  assert.equal(at, 21);
});

test('cancel and reschedule', () => {
  const w = new TimingWheel(10, 8);
  let fired = 0;
  const e = new TimerEntry(() => fired++);
  w.schedule(e, 20);
  w.cancel(e);
  ticks(w, 5);
  assert.equal(fired, 0);
  w.schedule(e, 20);
  w.schedule(e, 50); // moves it
  ticks(w, 2);
  assert.equal(fired, 0);
  ticks(w, 3);
  assert.equal(fired, 1);
});

test('a callback may cancel another entry due in the same tick, or reschedule itself', () => {
  const w = new TimingWheel(10, 8);
  const log: string[] = [];
  const b = new TimerEntry(() => log.push('b'));
  const a = new TimerEntry(() => {
    log.push('a');
    w.cancel(b);
  });
  let n = 0;
  const self = new TimerEntry(() => {
    log.push('self');
    if (++n < 3) w.schedule(self, 10);
  });
  w.schedule(b, 10);
  w.schedule(a, 10); // a is linked first, so it fires first
  w.schedule(self, 10);
  ticks(w, 5);
  assert.deepEqual(log, ['self', 'a', 'self', 'self']);
  assert.equal(w.size, 0);
});

test('a throwing callback does not stop the others; the error is reported', () => {
  const errors: unknown[] = [];
  const w = new TimingWheel(10, 8, (err) => errors.push(err));
  let ok = 0;
  w.schedule(new TimerEntry(() => ok++), 10);
  w.schedule(
    new TimerEntry(() => {
      throw new Error('boom');
    }),
    10,
  );
  w.schedule(new TimerEntry(() => ok++), 10);
  w.tick();
  assert.equal(ok, 2);
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as Error).message, 'boom');
});

test('many entries: each fires exactly once', () => {
  const w = new TimingWheel(10, 64);
  const fired = new Array<number>(10_000).fill(0);
  for (let i = 0; i < fired.length; i++) w.schedule(new TimerEntry(() => fired[i]!++), (i % 1000) + 1);
  ticks(w, 200);
  assert.ok(fired.every((f) => f === 1));
});
