import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHistogram, encodeHistogram, summarize } from '../src/histogram.js';
import type { Tick } from '../src/ipc.js';
import { cpuPercent, parseStatCpuTicks, parseVmRss } from '../src/procstat.js';
import { promValue } from '../src/probe.js';
import { TickAggregator } from '../src/report.js';
import { formatTable, ratio } from '../src/table.js';

function tick(workerId: number, latenciesUs: number[], extra: Partial<Tick> = {}): Tick {
  const h = createHistogram();
  for (const v of latenciesUs) h.recordValue(v);
  return { type: 'tick', workerId, open: 10, deliveries: latenciesUs.length, duplicates: 0, hist: latenciesUs.length ? encodeHistogram(h) : null, errors: {}, completed: 0, ...extra };
}

test('worker histogram deltas add up exactly; the total count equals deliveries', () => {
  const agg = new TickAggregator(2);
  agg.startMeasuring(0);
  agg.add(tick(0, [1000, 2000, 3000]), 100);
  agg.add(tick(1, [4000, 100_000], { errors: { close_4009: 1 } }), 200);
  agg.add(tick(0, [5000], { errors: { close_4009: 2, handshake_timeout: 1 } }), 1500);
  assert.equal(agg.delivered, 6);
  assert.equal(agg.total.totalCount, 6);
  assert.deepEqual(agg.errors, { close_4009: 3, handshake_timeout: 1 });
  const l = agg.latency();
  assert.equal(l.count, 6);
  assert.ok(Math.abs(l.max - 100) < 0.1, `max ${l.max} ms`);
  assert.ok(Math.abs(l.p50 - 3) < 0.01, `p50 ${l.p50} ms`);
  const tl = agg.timeline(new Map([[1, { cpu: 50, rssMb: 80 }]]));
  assert.deepEqual(tl.map((p) => [p.t, p.deliveriesPerSec]), [[0, 5], [1, 1]]);
  assert.equal(tl[1]?.serverCpuPercent, 50);
  assert.equal(agg.open, 20);
});

test('deliveries before measuring are not counted, errors are', () => {
  const agg = new TickAggregator(1);
  agg.add(tick(0, [10, 20], { errors: { connect_ECONNREFUSED: 1 } }), 0);
  assert.equal(agg.delivered, 0);
  assert.equal(agg.total.totalCount, 0);
  assert.equal(agg.errors.connect_ECONNREFUSED, 1);
});

test('reset after a warm-up forgets deliveries and latencies, keeps errors', () => {
  const agg = new TickAggregator(1);
  agg.startMeasuring(0);
  agg.add(tick(0, [10, 20], { errors: { publish_http_503: 2 } }), 0);
  assert.equal(agg.delivered, 2);
  agg.reset();
  assert.equal(agg.delivered, 0);
  assert.equal(agg.total.totalCount, 0);
  assert.deepEqual(agg.timeline(), []);
  agg.add(tick(0, [30]), 10);
  assert.equal(agg.delivered, 0, 'not counting again until the measured phase starts');
  agg.startMeasuring(100);
  agg.add(tick(0, [30]), 100);
  assert.equal(agg.delivered, 1);
  assert.equal(agg.errors.publish_http_503, 2);
});

test('broadcast completion is the minimum over all workers, 0 until all reported', () => {
  const agg = new TickAggregator(3);
  agg.setCompleted(0, 5);
  agg.setCompleted(1, 3);
  assert.equal(agg.completed, 0);
  agg.setCompleted(2, 9);
  assert.equal(agg.completed, 3);
});

test('summary of an empty histogram is zeros', () => {
  assert.deepEqual(summarize(createHistogram()), { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 });
});

test('/proc parsing: VmRSS, utime+stime after a comm with spaces and parentheses', () => {
  assert.equal(parseVmRss('Name:\tnode\nVmRSS:\t  123456 kB\nVmData: 1 kB\n'), 123456 * 1024);
  const stat = '4242 (node (worker) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0 123 456 789';
  assert.equal(parseStatCpuTicks(stat), 325);
  assert.equal(cpuPercent({ rssBytes: 0, cpuSeconds: 1, atMs: 0 }, { rssBytes: 0, cpuSeconds: 1.5, atMs: 1000 }), 50);
  assert.throws(() => parseVmRss('Name: x'), /VmRSS/);
});

test('Prometheus values are read by name', () => {
  const text = '# HELP x\nnodejs_heap_size_used_bytes 12345678\nprocess_resident_memory_bytes 9.8e+07\nnodejs_heap_size_used_bytes_other 1\n';
  assert.equal(promValue(text, 'nodejs_heap_size_used_bytes'), 12345678);
  assert.equal(promValue(text, 'process_resident_memory_bytes'), 98_000_000);
  assert.equal(promValue(text, 'missing'), undefined);
});

test('comparison table shows each figure with its ratio to raw ws', () => {
  assert.equal(ratio(200, 100), '2.00×');
  assert.equal(ratio(1, 0), '');
  const t = formatTable(
    [{ scenario: 'broadcast', metric: 'deliveries/s', unit: 'msg/s', higherIsBetter: true, values: { raw: 100_000, socketio: 40_000, herald: 120_000 } }],
    ['raw', 'socketio', 'herald'],
  );
  assert.match(t, /\| broadcast \| deliveries\/s \(msg\/s\) \| 100,000 \| 40,000 \(0\.40×\) \| 120,000 \(1\.20×\) \|/);
});

test('foreign CPU is machine busy time minus our processes', async () => {
  const { foreignCpuPercent, parseProcStatBusy } = await import('../src/contention.js');
  assert.equal(parseProcStatBusy('cpu  100 5 50 9000 10 3 7 0 0 0\ncpu0 1 2 3 4\n'), 155);
  const a = { atMs: 0, machineBusyTicks: 1000, ourTicks: 400, load1: 1 };
  const b = { atMs: 2000, machineBusyTicks: 1300, ourTicks: 500, load1: 1 };
  assert.equal(foreignCpuPercent(a, b), 100, '200 foreign ticks over 2 s = one core');
  assert.equal(foreignCpuPercent(a, { ...b, ourTicks: 800 }), 0, 'clamped at zero');
});
