/** With the Redis engine, the API rate and the per-user connection limit are the cluster's. */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { CloseCode } from '@herald/protocol';
import type { HeraldNode } from '../../src/node.js';
import { connect, open, publish, startNode, token } from '../helpers/harness.js';
import { deleteKeys, sharedRedis, testPrefix } from '../helpers/redisServer.js';

const prefix = testPrefix();
let redis: Redis;
let a: HeraldNode;
let b: HeraldNode;

before(async () => {
  const shared = await sharedRedis();
  redis = shared.client;
  const cfg = { engine: 'redis' as const, redisUrl: shared.url, redisKeyPrefix: prefix, apiPublishRatePerTenant: 1, apiPublishBurstPerTenant: 2, maxConnectionsPerUser: 1 };
  a = await startNode(cfg);
  b = await startNode(cfg);
});

after(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

test('the API publish budget of a tenant is shared by the nodes', async () => {
  assert.equal((await publish(a, { to: { room: 'r', tenant: 'shared' }, data: 1 })).status, 200);
  assert.equal((await publish(a, { to: { room: 'r', tenant: 'shared' }, data: 2 })).status, 200);
  // Node B has never seen this tenant: only a shared bucket can know it is spent.
  const r = await publish(b, { to: { room: 'r', tenant: 'shared' }, data: 3 });
  assert.equal(r.status, 429);
  assert.ok(Number(r.headers.get('retry-after')) >= 1);
});

test('connections per user count every node', async () => {
  const first = await connect(a, 'solo', { device: 'phone' });
  const second = open(b, { token: await token('solo'), device: 'laptop' });
  const closed = await second.waitClosed();
  assert.equal(closed.code, CloseCode.ConnectionLimit);
  // The same device moving to another node is a replacement, not a second connection.
  const moved = await connect(b, 'solo', { device: 'phone' });
  assert.equal((await first.waitClosed()).code, CloseCode.Replaced);
  moved.close();
});
