/**
 * Found by the `webhooks` stress scenario (a user's devices on two nodes, one of them a worker):
 * online/offline of one user must reach the receiver in the order the cluster decided them.
 *
 * The decision is atomic in Redis (PRESENCE_ADD / PRESENCE_REMOVE on the user's connection set),
 * but each node wrote the event to the outbox only after it heard the script's answer, on another
 * connection: the user's last device leaving node A (offline decided) and a new device on node B
 * (online decided after it) could land in the partition stream as online(B), offline(A) — the
 * receiver's last word "offline" for a user who is online. Node A's Redis connection runs through
 * a fault proxy that holds Redis's replies to its command connection, so A's answer (and its
 * event) comes after B's, deterministically.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { FaultProxy } from '../../../stress/src/faultProxy.js';
import { Rng } from '../../../stress/src/rng.js';
import { RedisKeys } from '../../src/engine/redis/keys.js';
import type { HeraldNode } from '../../src/node.js';
import { proxiedConnOf } from '../helpers/proxiedClient.js';
import { connect, startNode, type TestClient } from '../helpers/harness.js';
import { deleteKeys, sharedRedis, testPrefix, waitFor } from '../helpers/redisServer.js';
import { Receiver } from './receiver.js';

const WEBHOOK_SECRET = 'webhook-secret-0123456789';
const prefix = testPrefix();
const keys = new RedisKeys(prefix);
const receiver = new Receiver(WEBHOOK_SECRET);
let admin: Redis;
let proxy: FaultProxy;
let A: HeraldNode;
let B: HeraldNode;
const clients: TestClient[] = [];

before(async () => {
  const shared = await sharedRedis();
  admin = shared.client;
  await receiver.start();
  const u = new URL(shared.url);
  proxy = new FaultProxy('redis', [{ host: u.hostname, port: Number(u.port || 6379) }], new Rng(7));
  await proxy.listen();
  const cfg = { engine: 'redis' as const, redisKeyPrefix: prefix, webhookUrl: receiver.url, webhookSecret: WEBHOOK_SECRET, webhookBatchMs: 20 };
  A = await startNode({ ...cfg, redisUrl: `redis://127.0.0.1:${proxy.port}`, nodeId: 'order-a' });
  B = await startNode({ ...cfg, redisUrl: shared.url, nodeId: 'order-b' });
});

after(async () => {
  for (const c of clients) c.close();
  for (const c of proxy.openConnections()) proxy.throttle(c, false);
  await Promise.all([A?.close(), B?.close()]);
  await proxy.close();
  await receiver.stop();
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

test('online/offline of one user across two nodes arrive in the order the cluster decided them', async () => {
  const user = 'order-u';
  const presence = (): string[] => receiver.unique().filter((e) => e.user === user && (e.type === 'online' || e.type === 'offline')).map((e) => `${e.type}@${String(e.id).split('.')[0]}`);
  const d1 = await connect(A, user, { device: 'd1' });
  clients.push(d1);
  await waitFor('online from A', () => presence().length === 1);

  // A's last device leaves: the script runs in Redis (offline decided), A does not hear back yet.
  const cmd = await proxiedConnOf(admin, proxy, 'herald:order-a:cmd');
  proxy.throttle(cmd, true);
  d1.close();
  await waitFor('A removed the connection in Redis', async () => (await admin.hlen(keys.userConns('default', user))) === 0);
  // A new device on B: the set is empty again, so this is the user's online — decided after the offline.
  clients.push(await connect(B, user, { device: 'd2' }));
  await waitFor('online from B', () => presence().filter((p) => p === 'online@order-b').length === 1);
  proxy.throttle(cmd, false);
  await waitFor('offline from A', () => presence().includes('offline@order-a'));
  // Alternating, and the user (connected on B) is online.
  assert.deepEqual(presence(), ['online@order-a', 'offline@order-a', 'online@order-b'], 'online/offline in the order decided; the last says online');
});
