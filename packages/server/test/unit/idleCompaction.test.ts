/** Compaction after a connect storm (runtime/idleCompaction.ts): when it runs, how many passes, and when it must not. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdleCompaction, IDLE_UTILIZATION, MAX_PASSES, v8FullGc } from '../../src/runtime/idleCompaction.js';
import { createLogger } from '../../src/observability/logger.js';

/**
 * A compaction driven by hand: the connect counter, the loop's utilization, the clock and the old
 * space are the test's; each collection takes the old space to the next of `after` (unchanged once
 * they run out).
 */
function rig(o: { afterConnects: number; quietMs: number }, gc = true, after: number[] = []) {
  const s = { connects: 0, busy: 0, now: 0, gcs: 0, old: 100, paused: false };
  const c = new IdleCompaction(o, {
    gc: gc
      ? () => {
          s.gcs++;
          s.old = after.shift() ?? s.old;
          s.paused = true;
        }
      : undefined,
    connects: () => s.connects,
    // A collection's pause shows in the utilization read after it (as with perf_hooks): the
    // compaction must not take its own pause for load.
    utilization: () => {
      if (!s.paused) return s.busy;
      s.paused = false;
      return 0.9;
    },
    now: () => s.now,
    oldSpaceBytes: () => s.old,
    log: createLogger('silent'),
  });
  /** One check `ms` after the previous one. */
  const step = (ms = 1000): boolean => {
    s.now += ms;
    return c.check();
  };
  return { s, c, step };
}

test('after a storm of afterConnects connects and quietMs of quiet, collections while they shrink the old space', () => {
  // The first collection frees nothing (as after a real storm), the next ones do, then no more.
  const { s, c, step } = rig({ afterConnects: 100, quietMs: 5000 }, true, [100, 80, 70, 69]);
  s.connects = 150;
  assert.equal(step(), false, 'connects are still coming');
  for (let t = 1000; t < 5000; t += 1000) assert.equal(step(), false, `quiet for ${t} ms only`);
  assert.equal(step(), true, 'quiet for 5 s: the first pass');
  assert.equal(c.compacting, true, 'a first pass that freed nothing does not end it');
  assert.equal(step(), true, 'second pass: 100 → 80');
  assert.equal(step(), true, 'third pass: 80 → 70');
  assert.equal(c.compacting, true);
  assert.equal(step(), true, 'fourth pass: 70 → 69, and that is the last');
  assert.equal(c.compacting, false);
  assert.equal(s.gcs, MAX_PASSES);
  assert.equal(c.runs, 1);
  // Nothing new: no second compaction, however long it stays quiet.
  for (let i = 0; i < 20; i++) assert.equal(step(), false);
  assert.equal(s.gcs, MAX_PASSES);
});

test('a pass after the first that shrinks the old space by under 5 % ends the compaction', () => {
  const { s, c, step } = rig({ afterConnects: 10, quietMs: 1000 }, true, [90, 87]);
  s.connects = 10;
  step();
  assert.equal(step(), true);
  assert.equal(step(), true, '90 → 87: under 5 %');
  assert.equal(c.compacting, false);
  assert.equal(step(), false);
  assert.equal(s.gcs, 2);
});

test('too few connects since the last compaction: none', () => {
  const { s, step } = rig({ afterConnects: 100, quietMs: 2000 });
  s.connects = 99;
  for (let i = 0; i < 10; i++) step();
  assert.equal(s.gcs, 0);
  // The next storm counts from the start: one more connect makes 100.
  s.connects = 100;
  for (let i = 0; i < 10; i++) step();
  assert.equal(s.gcs, 2, 'one compaction (two passes: the old space did not shrink)');
  // And from the last compaction afterwards: 99 more is not enough.
  s.connects = 199;
  for (let i = 0; i < 10; i++) step();
  assert.equal(s.gcs, 2);
});

test('a busy event loop or a new connect restarts the quiet time, and stops the passes', () => {
  const { s, c, step } = rig({ afterConnects: 10, quietMs: 3000 }, true, [100, 80, 60, 40]);
  s.connects = 50;
  step();
  step();
  step();
  s.busy = IDLE_UTILIZATION + 0.01; // publishes flowing: not idle
  for (let i = 0; i < 10; i++) assert.equal(step(), false, 'never while busy');
  s.busy = IDLE_UTILIZATION;
  step();
  step();
  s.connects++; // one more connect: quiet again from here
  step();
  step();
  step();
  assert.equal(s.gcs, 0);
  assert.equal(step(), true, 'the first pass');
  assert.equal(step(), true, 'the second');
  s.busy = 0.9;
  assert.equal(step(), false, 'busy: no third pass');
  assert.equal(c.compacting, false);
  s.busy = 0;
  for (let i = 0; i < 10; i++) step();
  assert.equal(s.gcs, 2, 'and no new compaction without a new storm');
});

test('off: afterConnects 0, or no gc to call', () => {
  for (const [o, gc] of [[{ afterConnects: 0, quietMs: 100 }, true], [{ afterConnects: 1, quietMs: 100 }, false]] as const) {
    const { s, c, step } = rig(o, gc);
    s.connects = 1000;
    for (let i = 0; i < 5; i++) assert.equal(step(), false);
    assert.equal(c.enabled, false);
    assert.equal(c.runs, 0);
  }
});

test("v8FullGc is V8's full collection: it frees what nothing references", async () => {
  const gc = v8FullGc();
  const ref = new WeakRef({ big: new Array(1000).fill(0) });
  // A WeakRef's target is kept to the end of the job that made it.
  await new Promise((r) => setImmediate(r));
  gc();
  assert.equal(ref.deref(), undefined);
});
