/** The default process metrics (observability/defaultMetrics.ts): process_open_fds without listing every descriptor. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync } from 'node:fs';
import client from 'prom-client';
import { collectDefaultMetrics, openFdCount } from '../../src/observability/defaultMetrics.js';

test('process_open_fds counts this process\'s descriptors, as prom-client did, and follows them', async () => {
  const registry = new client.Registry();
  collectDefaultMetrics(registry);
  const read = async (): Promise<number> => {
    const text = await registry.getSingleMetricAsString('process_open_fds');
    const m = /^process_open_fds (\d+)$/m.exec(text);
    assert.ok(m, text);
    return Number(m[1]);
  };
  const before = await read();
  // prom-client's own figure: the listing, less the descriptor the listing held.
  assert.equal(before, readdirSync('/proc/self/fd').length - 1);
  const fds = Array.from({ length: 40 }, () => openSync('/dev/null', 'r'));
  try {
    assert.equal(await read(), before + 40);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  assert.equal(await read(), before);
  assert.match(await registry.metrics(), /# HELP process_open_fds Number of open file descriptors\.\n# TYPE process_open_fds gauge\n/);
});

test('a kernel that reports no size for /proc/self/fd gets the listing; no /proc, no value', () => {
  let listed = 0;
  const list = (): unknown[] => {
    listed++;
    return ['0', '1', '2', '3'];
  };
  assert.equal(openFdCount(() => ({ size: 17 }), list), 17, 'Linux 6.2 and later: one stat');
  assert.equal(listed, 0);
  assert.equal(openFdCount(() => ({ size: 0 }), list), 3, 'earlier kernels: the listing less its own descriptor');
  assert.equal(listed, 1);
  assert.equal(openFdCount(() => { throw new Error('ENOENT'); }, list), undefined);
});
