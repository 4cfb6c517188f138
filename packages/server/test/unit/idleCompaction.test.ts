/** Compaction after a connect storm (runtime/idleCompaction.ts): when it runs, and when it must not. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdleCompaction, IDLE_UTILIZATION, v8FullGc } from '../../src/runtime/idleCompaction.js';
import { createLogger } from '../../src/observability/logger.js';

/** A compaction driven by hand: the connect counter, the loop's utilization and the clock are the test's. */
function rig(o: { afterConnects: number; quietMs: number }, gc = true) {
  const s = { connects: 0, busy: 0, now: 0, gcs: 0 };
  const c = new IdleCompaction(o, {
    gc: gc ? () => void s.gcs++ : undefined,
    connects: () => s.connects,
    utilization: () => s.busy,
    now: () => s.now,
    log: createLogger('silent'),
  });
  /** One check `ms` after the previous one. */
  const step = (ms: number): boolean => {
    s.now += ms;
    return c.check();
  };
  return { s, c, step };
}

test('after a storm of afterConnects connects, one collection once the node has been quiet for quietMs', () => {
  const { s, c, step } = rig({ afterConnects: 100, quietMs: 5000 });
  s.connects = 150;
  assert.equal(step(1000), false, 'connects are still coming');
  for (let t = 1000; t < 5000; t += 1000) assert.equal(step(1000), false, `quiet for ${t} ms only`);
  assert.equal(step(1000), true, 'quiet for 5 s');
  assert.equal(s.gcs, 1);
  assert.equal(c.runs, 1);
  // Nothing new: no second collection, however long it stays quiet.
  for (let i = 0; i < 20; i++) assert.equal(step(1000), false);
  assert.equal(s.gcs, 1);
});

test('too few connects since the last compaction: none', () => {
  const { s, step } = rig({ afterConnects: 100, quietMs: 2000 });
  s.connects = 99;
  for (let i = 0; i < 10; i++) step(1000);
  assert.equal(s.gcs, 0);
  // The next storm counts from the start: one more connect makes 100.
  s.connects = 100;
  for (let i = 0; i < 3; i++) step(1000);
  assert.equal(s.gcs, 1);
  // And from the last compaction afterwards: 99 more is not enough.
  s.connects = 199;
  for (let i = 0; i < 10; i++) step(1000);
  assert.equal(s.gcs, 1);
});

test('a busy event loop or a new connect restarts the quiet time', () => {
  const { s, step } = rig({ afterConnects: 10, quietMs: 3000 });
  s.connects = 50;
  step(1000);
  step(1000);
  step(1000);
  s.busy = IDLE_UTILIZATION + 0.01; // publishes flowing: not idle
  for (let i = 0; i < 10; i++) assert.equal(step(1000), false, 'never while busy');
  s.busy = IDLE_UTILIZATION;
  step(1000);
  step(1000);
  s.connects++; // one more connect: quiet again from here
  step(1000);
  step(1000);
  step(1000);
  assert.equal(s.gcs, 0);
  assert.equal(step(1000), true);
});

test('off: afterConnects 0, or no gc to call', () => {
  for (const [o, gc] of [[{ afterConnects: 0, quietMs: 100 }, true], [{ afterConnects: 1, quietMs: 100 }, false]] as const) {
    const { s, c, step } = rig(o, gc);
    s.connects = 1000;
    for (let i = 0; i < 5; i++) assert.equal(step(1000), false);
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
