/**
 * CountingHistogram (the deliver and ack latency histograms) must export
 * exactly what prom-client's Histogram exports for the same observations:
 * /metrics and the admin page read it as one (docs/operations.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import client from 'prom-client';
import { CountingHistogram } from '../../src/observability/countingHistogram.js';
import { LATENCY_BUCKETS } from '../../src/observability/metrics.js';

function pair(): { a: client.Histogram; b: CountingHistogram; text(): Promise<[string, string]> } {
  const r1 = new client.Registry();
  const r2 = new client.Registry();
  r1.setDefaultLabels({ node: 'n1' });
  r2.setDefaultLabels({ node: 'n1' });
  const cfg = { name: 'herald_test_latency_seconds', help: 'Test.', buckets: LATENCY_BUCKETS };
  const a = new client.Histogram({ ...cfg, registers: [r1] });
  const b = new CountingHistogram({ ...cfg, registers: [r2] });
  return { a, b, text: async () => [await r1.metrics(), await r2.metrics()] };
}

test('exports the same buckets, sum and count as prom-client for the same observations', async () => {
  const { a, b, text } = pair();
  let [x, y] = await text();
  assert.equal(y, x, 'before any observation');
  // Every bucket, both edges of each bound, over the last bound, zero, and the labels-object form.
  const values = [0, 30, 31, 1e6, ...LATENCY_BUCKETS, ...LATENCY_BUCKETS.map((v) => v * 1.0001), ...Array.from({ length: 2000 }, (_, i) => ((i * 7919) % 4000) / 97)];
  for (const v of values) {
    a.observe(v);
    b.observe(v);
  }
  a.observe({}, 0.3);
  b.observe({}, 0.3);
  [x, y] = await text();
  assert.equal(y, x);
  assert.deepEqual(await b.get(), await a.get(), 'get() (the admin page reads it)');
  b.observe(0.002);
  a.observe(0.002);
  [x, y] = await text();
  assert.equal(y, x, 'observations after a scrape');
});

test('refuses what prom-client refuses, with the same error, and counts nothing for it', async () => {
  const { a, b, text } = pair();
  for (const args of [[Number.NaN], [Infinity], [{ nope: 'x' }, 1], [{}, Number.NaN]] as const) {
    const message = (h: client.Histogram): string => {
      try {
        (h.observe as (...x: unknown[]) => void)(...args);
        return 'no error';
      } catch (err) {
        return (err as Error).message;
      }
    };
    assert.equal(message(b), message(a));
  }
  const [x, y] = await text();
  assert.equal(y, x);
});

test('reset() drops the series until the next observation, as prom-client does', async () => {
  const { a, b, text } = pair();
  a.observe(1);
  b.observe(1);
  a.reset();
  b.reset();
  let [x, y] = await text();
  assert.equal(y, x);
  a.observe(0.01);
  b.observe(0.01);
  [x, y] = await text();
  assert.equal(y, x);
  assert.match(y, /herald_test_latency_seconds_count\{node="n1"\} 1\b/);
});
