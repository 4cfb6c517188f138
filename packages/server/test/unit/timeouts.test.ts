import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wakeablePause, withTimeout } from '../../src/runtime/timeouts.js';

test('withTimeout passes a value or an error through when the promise settles first', async () => {
  assert.equal(await withTimeout(Promise.resolve(7), 1_000, 'x'), 7);
  await assert.rejects(withTimeout(Promise.reject(new Error('boom')), 1_000, 'x'), /boom/);
});

test('withTimeout rejects naming the call and the bound when the promise never settles', async () => {
  const never = new Promise<never>(() => undefined);
  // The bound's timer is unref'd (it must never hold a stopping node open): something else has to
  // keep this test's process alive meanwhile, as a running server does.
  const alive = setInterval(() => undefined, 1_000);
  try {
    await assert.rejects(withTimeout(never, 20, 'queue.declare'), { message: 'queue.declare timed out after 20 ms' });
  } finally {
    clearInterval(alive);
  }
});

test('wakeablePause ends on its own after ms, and early on wake(); a second wake is harmless', async () => {
  const t0 = performance.now();
  await wakeablePause(20).done;
  assert.ok(performance.now() - t0 >= 15, 'the pause lasted its time');

  const p = wakeablePause(60_000);
  let ended = false;
  void p.done.then(() => (ended = true));
  await Promise.resolve();
  assert.equal(ended, false);
  p.wake();
  await p.done;
  assert.equal(ended, true);
  p.wake();
});
