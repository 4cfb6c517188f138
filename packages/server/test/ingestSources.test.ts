/**
 * The ingest sources as a node runs them (ingest/create.ts): which config turns
 * which on, /readyz detail (a disconnected source is listed but does not make the
 * node unready), per-source metrics, and the Redis stream source's default
 * idempotency key through the real pipeline.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { connect, nodeFactory, type TestClient } from './helpers/harness.js';
import { envName } from '../src/config/names.js';
import { loadConfig } from '../src/config/load.js';
import { deleteKeys, freePort, sharedRedis, testPrefix, waitFor } from './helpers/redisServer.js';

const node = nodeFactory();
let redisUrl: string;
let redis: Redis;
const prefixes: string[] = [];
const clients: TestClient[] = [];

before(async () => {
  ({ url: redisUrl, client: redis } = await sharedRedis());
});

after(async () => {
  for (const c of clients) c.close();
  for (const p of prefixes) await deleteKeys(redis, p);
  redis.disconnect();
});

function prefix(): string {
  const p = testPrefix();
  prefixes.push(p);
  return p;
}

test('memory engine without ingest config: no sources, /readyz without an ingest field', async () => {
  const n = await node();
  assert.deepEqual(n.ingest, []);
  assert.deepEqual(await (await fetch(n.url + '/readyz')).json(), { ready: true, engine: 'up', draining: false });
});

test('an unreachable RabbitMQ does not keep the node from starting or make it unready; /readyz, metrics and the admin feed say disconnected', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const n = await node({ ingestAmqpUrl: `amqp://guest:guest@127.0.0.1:${port}`, ingestAmqpQueue: 'herald.unreachable', ingestAmqpReconnectMaxMs: 200 });
  assert.deepEqual(
    n.ingest.map((s) => [s.kind, s.name]),
    [['amqp', 'herald.unreachable']],
  );
  const res = await fetch(n.url + '/readyz');
  assert.equal(res.status, 200);
  const body = (await res.json()) as { ingest: { kind: string; name: string; connected: boolean; error?: string }[] };
  assert.equal(body.ingest.length, 1);
  assert.equal(body.ingest[0]!.connected, false);
  assert.match(body.ingest[0]!.error ?? '', /ECONNREFUSED/);
  const metrics = await (await fetch(n.url + '/metrics')).text();
  assert.match(metrics, /herald_ingest_source_connected\{[^}]*kind="amqp",name="herald.unreachable"[^}]*\} 0/);
  // The reconnect loop keeps trying (and keeps failing) without piling up: still one source, still disconnected.
  await waitFor('a few more attempts', () => n.ingest[0]!.stats().lastError !== undefined);
  assert.equal(n.ingest[0]!.stats().connected, false);
});

test('redis engine: the stream source runs by default, with the entry id as idempotency key and per-source series', { timeout: 30_000 }, async () => {
  const p = prefix();
  const n = await node({ engine: 'redis', redisUrl, redisKeyPrefix: p });
  assert.deepEqual(
    n.ingest.map((s) => [s.kind, s.name]),
    [['redis', `${p}ingest`]],
  );
  const dev = await connect(n, 'uma', { device: 'd' });
  clients.push(dev);
  const id = await redis.xadd(`${p}ingest`, '*', 'payload', JSON.stringify({ to: { user: 'uma' }, data: { k: 1 } }));
  await dev.waitFor((f) => f.type === 'message', 10_000);
  await waitFor('consumed', () => n.ingest[0]!.stats().consumed === 1);
  // The pipeline remembered the default key: the same entry again would store nothing new.
  assert.equal(await n.engine.idempotencyClaim(`ingest:${id}`, 1000).then((c) => c.state), 'done');
  await waitFor('lag read', () => n.ingest[0]!.stats().lag === 0);
  const ready = (await (await fetch(n.url + '/readyz')).json()) as Record<string, unknown>;
  assert.deepEqual(ready.ingest, [{ kind: 'redis', name: `${p}ingest`, connected: true }]);
  const metrics = await (await fetch(n.url + '/metrics')).text();
  const labels = `kind="redis",name="${p}ingest"`;
  assert.match(metrics, new RegExp(`herald_ingest_source_consumed_total\\{[^}]*${labels}[^}]*\\} 1`));
  assert.match(metrics, new RegExp(`herald_ingest_source_lag_entries\\{[^}]*${labels}[^}]*\\} 0`));
  // The engine-level stream series are still there.
  assert.match(metrics, /herald_ingest_pending_entries\{[^}]*\} 0/);
});

test('ingestEnabled=false turns the stream source off', async () => {
  const n = await node({ engine: 'redis', redisUrl, redisKeyPrefix: prefix(), ingestEnabled: false });
  assert.deepEqual(n.ingest, []);
});

test('the RabbitMQ settings have the FIXED names of DESIGN §7 and the documented defaults', () => {
  assert.equal(envName('ingestAmqpUrl'), 'HERALD_INGEST_AMQP_URL');
  assert.equal(envName('ingestAmqpQueue'), 'HERALD_INGEST_AMQP_QUEUE');
  const c = loadConfig({ env: { HERALD_INGEST_AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672' } });
  assert.equal(c.ingestAmqpUrl, 'amqp://guest:guest@127.0.0.1:5672');
  assert.equal(c.ingestAmqpQueue, 'herald.ingest');
  assert.throws(() => loadConfig({ env: { HERALD_INGEST_AMQP_URL: 'http://127.0.0.1:5672' } }), /ingestAmqpUrl/);
});
