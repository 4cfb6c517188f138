import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCli } from '../src/cli.js';
import { clusterCases, clusterRows, crossNodeVerdicts, formatClusterTable, parseEnv, placement } from '../src/cluster.js';
import { NonLoopbackTargetError } from '../src/guard.js';
import { connectBaseFor } from '../src/ipc.js';
import { connectionsPerNode, perProcess } from '../src/orchestrator.js';
import { combineSamples } from '../src/probe.js';
import { benchKeyPrefix, deleteKeysWithPrefix, encodeCommand, isRedisServerFor, loopbackRedis, parseReply } from '../src/redisKeys.js';
import { auxCpuPercent } from '../src/contention.js';
import type { RunReport } from '../src/report.js';

const A = 'http://127.0.0.1:9001';
const B = 'http://127.0.0.1:9002';
const C = 'http://127.0.0.1:9003';

test('connections are spread round-robin over the nodes by user index', () => {
  const init = { httpBase: A, connectBases: [A, B, C] };
  assert.deepEqual([0, 1, 2, 3, 4, 5, 7].map((i) => connectBaseFor(init, i)), [A, B, C, A, B, C, B]);
  assert.equal(connectBaseFor({ httpBase: A }, 5), A, 'one node: everything to httpBase');
  assert.equal(connectBaseFor({ httpBase: A, connectBases: [] }, 5), A);
  assert.deepEqual(connectionsPerNode(45_000, 3), [15_000, 15_000, 15_000]);
  assert.deepEqual(connectionsPerNode(10, 3), [4, 3, 3]);
});

test('several processes: figures are summed, each process is kept, a missing figure makes the sum missing', () => {
  const s = combineSamples(1, [
    { url: A, pid: 1, rssBytes: 100, heapUsedBytes: 10, cpuSeconds: 1 },
    { url: B, pid: 2, rssBytes: 200, heapUsedBytes: 20, cpuSeconds: 2 },
  ]);
  assert.equal(s.rssBytes, 300);
  assert.equal(s.heapUsedBytes, 30);
  assert.equal(s.cpuSeconds, 3);
  assert.equal(s.processes.length, 2);
  const partial = combineSamples(1, [{ url: A, rssBytes: 100 }, { url: B }]);
  assert.equal(partial.rssBytes, undefined);
});

test('per-process memory per connection uses the connections that process held', () => {
  const before = combineSamples(0, [
    { url: A, rssBytes: 1000, heapUsedBytes: 100 },
    { url: B, rssBytes: 1000, heapUsedBytes: 100 },
    { url: C, rssBytes: 1000, heapUsedBytes: 100 },
  ]);
  const after = combineSamples(1, [
    { url: A, rssBytes: 1000, heapUsedBytes: 100 }, // the publish node: no connections
    { url: B, rssBytes: 1000 + 5 * 8192, heapUsedBytes: 100 + 5 * 4096 },
    { url: C, rssBytes: 1000 + 5 * 8192, heapUsedBytes: 100 + 5 * 4096 },
  ]);
  const p = perProcess(before, after, 10, [B, C]);
  assert.equal(p[0]?.connections, 0);
  assert.equal(p[0]?.rssPerConnectionBytes, undefined);
  assert.equal(p[1]?.connections, 5);
  assert.equal(p[1]?.rssPerConnectionBytes, 8192);
  assert.equal(p[2]?.heapPerConnectionBytes, 4096);
});

test('the CLI takes --url repeated, --publish-url and one --pid per node', () => {
  const base = ['--jwt-secret', 's', '--api-key', 'k', '--scenario', 'idle'];
  const one = parseCli([...base, '--url', A, '--pid', '11']).run;
  assert.equal(one?.url, A);
  assert.equal(one?.pid, 11);
  assert.equal(one?.connectUrls, undefined);
  const three = parseCli([...base, '--url', A, '--url', B, '--url', C, '--pid', '1', '--pid', '2', '--pid', '3']).run;
  assert.equal(three?.url, A, 'publishes go to the first --url by default');
  assert.deepEqual(three?.connectUrls, [A, B, C]);
  assert.deepEqual(three?.nodes, [
    { url: A, pid: 1 },
    { url: B, pid: 2 },
    { url: C, pid: 3 },
  ]);
  const cross = parseCli([...base, '--url', B, '--url', C, '--publish-url', A]).run;
  assert.equal(cross?.url, A);
  assert.deepEqual(cross?.connectUrls, [B, C]);
  assert.deepEqual(
    cross?.nodes?.map((n) => n.url),
    [B, C, A],
  );
  assert.throws(() => parseCli([...base, '--url', A, '--url', 'http://198.51.100.7:80']), NonLoopbackTargetError);
  assert.throws(() => parseCli([...base, '--url', A, '--publish-url', 'http://198.51.100.7:80']), NonLoopbackTargetError);
  assert.throws(() => parseCli([...base, '--publish-url', A]), /needs --url/);
  assert.throws(() => parseCli([...base, '--url', A, '--pid', '1', '--pid', '2']), /more --pid/);
});

test('cross-node placement: the publish node holds none of the devices (or 1/N with --mix)', () => {
  assert.deepEqual(placement('redis-cross', 3, false), { connectTo: [1, 2], publishVia: 0 });
  assert.deepEqual(placement('redis-cross', 3, true), { connectTo: [0, 1, 2], publishVia: 0 });
  assert.deepEqual(placement('redis-1', 3, false), { connectTo: [0], publishVia: 0 });
  assert.deepEqual(placement('capacity', 3, false), { connectTo: [0, 1, 2], publishVia: 0 });
  const full = Object.fromEntries(clusterCases(false).map((c) => [c.name, c]));
  assert.equal(full.capacity?.connections, 45_000);
  assert.equal(full.unicast?.rate, 5000);
  assert.equal(full.broadcast?.connections, 5000);
});

test('--env only passes HERALD_* settings', () => {
  assert.deepEqual(parseEnv(['HERALD_CONNECT_RATE_PER_IP=0', 'HERALD_MAX_PENDING_AUTH=5000']), { HERALD_CONNECT_RATE_PER_IP: '0', HERALD_MAX_PENDING_AUTH: '5000' });
  assert.throws(() => parseEnv(['PATH=/tmp']), /HERALD_NAME=value/);
  assert.throws(() => parseEnv(['HERALD_X']), /HERALD_NAME=value/);
});

test('Redis clean-up: loopback only, bench prefixes only, RESP encoding and parsing', async () => {
  assert.deepEqual(loopbackRedis('redis://127.0.0.1:6379'), { host: '127.0.0.1', port: 6379 });
  assert.equal(loopbackRedis('redis://localhost').port, 6379);
  assert.throws(() => loopbackRedis('redis://10.0.0.5:6379'), NonLoopbackTargetError);
  assert.throws(() => loopbackRedis('redis+cluster://127.0.0.1:6379'), /only redis:\/\//);
  const p = benchKeyPrefix('a1-b2{x}');
  assert.equal(p, 'herald-bench-a1b2x:');
  await assert.rejects(deleteKeysWithPrefix('redis://127.0.0.1:6379', 'herald:'), /outside a bench prefix/);
  assert.equal(encodeCommand(['SCAN', '0']), '*2\r\n$4\r\nSCAN\r\n$1\r\n0\r\n');
  const scan = '*2\r\n$1\r\n0\r\n*2\r\n$3\r\nk:1\r\n$3\r\nk:2\r\n';
  assert.deepEqual(parseReply(scan)?.value, ['0', ['k:1', 'k:2']]);
  assert.equal(parseReply(scan.slice(0, 20)), null, 'incomplete reply');
  assert.equal(parseReply(':7\r\n')?.value, 7);
  assert.ok(parseReply('-ERR x\r\n')?.value instanceof Error);
});

function fake(deliveries: number, p99: number): RunReport {
  return {
    params: { scenario: 'unicast' },
    messages: { deliveriesPerSec: deliveries, publishPerSec: deliveries, expectedDeliveries: 100, delivered: 100 },
    latencyMs: { p50: 1, p99, max: p99 },
    server: {},
    connections: { connectsPerSec: 1000 },
    machine: { foreignCpuPercent: 3 },
  } as unknown as RunReport;
}

test('cross-node table and verdicts: ratio to one memory node, added p99', () => {
  const reports = { 'memory-1': fake(5000, 10), 'redis-1': fake(4500, 12), 'redis-cross': fake(4000, 16) };
  const table = formatClusterTable(clusterRows('unicast', reports), ['memory-1', 'redis-1', 'redis-cross']);
  assert.match(table, /4,000 \(0\.80×\)/);
  assert.match(table, /16\.00 \(\+6\.00\)/);
  const v = crossNodeVerdicts('unicast', reports);
  assert.equal(v.length, 2);
  assert.match(v[0] ?? '', /80% of deliveries\/s \(goal ≥ 80%: met\), p99 \+6\.00 ms \(goal ≤ \+5 ms: missed\)/);
  assert.match(v[1] ?? '', /89% .*met.*\+4\.00 ms .*met/);
});

test('the Redis server is recognised by its command line; its CPU is measured from its own ticks', () => {
  assert.equal(isRedisServerFor('redis-server 127.0.0.1:6379\0\0', 6379), true);
  assert.equal(isRedisServerFor('/usr/bin/redis-server *:6379\0', 6379), true);
  assert.equal(isRedisServerFor('redis-server 127.0.0.1:44597\0', 6379), false);
  assert.equal(isRedisServerFor('node\0bench.js\0redis-server 127.0.0.1:6379', 6379), false);
  assert.equal(isRedisServerFor('redis-cli\0-p\0:6379', 6379), false);
  // 50 ticks (CLK_TCK 100) over 2 s = 25% of a core
  assert.equal(auxCpuPercent({ atMs: 0, machineBusyTicks: 0, ourTicks: 100, load1: 0 }, { atMs: 2000, machineBusyTicks: 0, ourTicks: 150, load1: 0 }), 25);
});
