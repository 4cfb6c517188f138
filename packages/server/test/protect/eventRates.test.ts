/** eventRateLimits: per (tenant, table entry) for API/ingest publishes, per (user, room, entry) for client room publishes; bad tables refused with the key named. */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { loadConfig, ConfigError } from '../../src/config/load.js';
import type { HeraldNode } from '../../src/node.js';
import { connect, nodeFactory, publish, startNode } from '../helpers/harness.js';
import { deleteKeys, sharedRedis, testPrefix } from '../helpers/redisServer.js';
import { scrape } from '../ops/metricsText.js';

const node = nodeFactory();
const TABLE = { 'marketing.*': { perSec: 0.001, burst: 2 }, 'alarm.fire': { perSec: 0.001, burst: 1 }, 'blocked.*': { perSec: 0, burst: 1 } };

test('API publishes: a prefix entry is one budget per tenant; unlisted events and other tenants are unlimited by it', async () => {
  const n = await node({ eventRateLimits: TABLE });
  const pub = (event: string | undefined, tenant = 't1') => publish(n, { to: { room: 'r', tenant }, data: 1, ...(event ? { event } : {}) });
  assert.equal((await pub('marketing.promo')).status, 200);
  assert.equal((await pub('marketing.news')).status, 200);
  const refused = await pub('marketing.promo');
  assert.equal(refused.status, 429);
  const err = refused.body.error as { code: string; message: string; field: string };
  assert.equal(err.code, 'rate_limited');
  assert.match(err.message, /"marketing\.\*"/);
  assert.match(err.message, /event_rate_per_tenant/);
  assert.equal(err.field, 'event');
  assert.ok(Number(refused.headers.get('retry-after')) >= 1);
  // Another tenant has its own budget; events outside the table and publishes without an event pass.
  assert.equal((await pub('marketing.promo', 't2')).status, 200);
  for (let i = 0; i < 5; i++) assert.equal((await pub('orders.new')).status, 200);
  assert.equal((await pub(undefined)).status, 200);
  // Exact name, and perSec 0 as a kill switch.
  assert.equal((await pub('alarm.fire')).status, 200);
  assert.equal((await pub('alarm.fire')).status, 429);
  assert.equal((await pub('blocked.x')).status, 429);
  const s = await scrape(n);
  assert.equal(s.value('herald_limit_rejections_total', { limit: 'event_rate_per_tenant' }), 3, 'one count per refusal');
});

test('client room publishes: per user and room, the event optional', async () => {
  const n = await node({ eventRateLimits: { 'cursor.*': { perSec: 0.001, burst: 2 } } });
  const a = await connect(n, 'ann');
  const b = await connect(n, 'bob');
  for (const c of [a, b]) for (const room of ['r1', 'r2']) assert.equal((await c.request({ type: 'join', room })).type, 'reply');
  const send = (c: typeof a, room: string, event?: string) => c.request({ type: 'publish', room, data: 1, ...(event ? { event } : {}) });
  assert.equal((await send(a, 'r1', 'cursor.move')).type, 'reply');
  assert.equal((await send(a, 'r1', 'cursor.move')).type, 'reply');
  const refused = await send(a, 'r1', 'cursor.move');
  assert.equal(refused.type, 'error');
  assert.equal(refused.code, 'rate_limited');
  assert.match(String(refused.message), /"cursor\.\*"/);
  // Another room, another user, no event: separate budgets or none.
  assert.equal((await send(a, 'r2', 'cursor.move')).type, 'reply');
  assert.equal((await send(b, 'r1', 'cursor.move')).type, 'reply');
  assert.equal((await send(a, 'r1')).type, 'reply');
  assert.equal((await send(a, 'r1', 'chat.text')).type, 'reply');
  assert.equal((await scrape(n)).value('herald_limit_rejections_total', { limit: 'event_rate_per_user_room' }), 1);
  a.close();
  b.close();
});

test('bad tables are refused with the key named (file, environment)', () => {
  const bad = (env: Record<string, string>, re: RegExp) => {
    assert.throws(() => loadConfig({ env }), (e: unknown) => e instanceof ConfigError && e.key === 'eventRateLimits' && re.test(e.message));
  };
  bad({ HERALD_EVENT_RATE_LIMITS: '{"a.*":{"perSec":-1,"burst":2}}' }, /eventRateLimits\."a\.\*"\.perSec.*>= 0/);
  bad({ HERALD_EVENT_RATE_LIMITS: '{"a.*":{"perSec":1,"burst":2,"perMin":3}}' }, /unknown key "perMin"/);
  bad({ HERALD_EVENT_RATE_LIMITS: '{"a*b":{"perSec":1,"burst":2}}' }, /prefix ending in \*/);
  bad({ HERALD_EVENT_RATE_LIMITS: 'not json' }, /eventRateLimits/);
  assert.throws(() => loadConfig({ env: { HERALD_TENANT_OVERRIDES: '{"t":{"features":{"teleport":true}}}' } }), /unknown key "teleport" in tenantOverrides\.t\.features/);
  const ok = loadConfig({ env: { HERALD_EVENT_RATE_LIMITS: '{"marketing.*":{"perSec":100,"burst":200}}' } });
  assert.deepEqual(ok.eventRateLimits, { 'marketing.*': { perSec: 100, burst: 200 } });
});

const prefix = testPrefix();
let redis: Redis;
const cluster: HeraldNode[] = [];
before(async () => {
  const shared = await sharedRedis();
  redis = shared.client;
  for (let i = 0; i < 3; i++) cluster.push(await startNode({ engine: 'redis', redisUrl: shared.url, redisKeyPrefix: prefix, ingestEnabled: false, eventRateLimits: { 'marketing.*': { perSec: 0.001, burst: 3 } } }));
});
after(async () => {
  await Promise.all(cluster.map((n) => n.close()));
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

test('three nodes on Redis share a tenant\'s event budget', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await publish(cluster[i % 3]!, { to: { room: 'r', tenant: 'shared' }, data: i, event: 'marketing.x' })).status);
  assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429]);
});

test('stream ingest: an entry over the event rate is retried later, not dead-lettered', { timeout: 60_000 }, async () => {
  const shared = await sharedRedis();
  const ingestPrefix = testPrefix();
  const n = await startNode({ engine: 'redis', redisUrl: shared.url, redisKeyPrefix: ingestPrefix, ingestClaimIdleMs: 1000, eventRateLimits: { 'ing.*': { perSec: 2, burst: 1 } } });
  try {
    const c = await connect(n, 'ivy');
    for (let i = 0; i < 3; i++) await shared.client.xadd(`${ingestPrefix}ingest`, '*', 'payload', JSON.stringify({ to: { user: 'ivy' }, data: { i }, event: 'ing.x' }));
    const got = await c.waitForCount((f) => f.type === 'message', 3, 30_000, 'all three entries delivered');
    assert.deepEqual(got.map((f) => (f.data as { i: number }).i).sort(), [0, 1, 2]);
    assert.ok(n.stats.limitRejections.get('event_rate_per_tenant')! >= 1, 'at least one entry was refused first');
    assert.equal(await shared.client.xlen(`${ingestPrefix}ingest:dead`), 0, 'nothing dead-lettered');
    c.close();
  } finally {
    await n.close();
    await deleteKeys(shared.client, ingestPrefix);
    shared.client.disconnect();
  }
});
