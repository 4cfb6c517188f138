/**
 * Webhooks on a real Redis Cluster (three masters started here): the outbox
 * partitions, leases, deadlines and the exact presence scripts each stay in
 * one slot, and events for users spread over every master arrive once.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import type { HeraldNode } from '../../src/node.js';
import { connect, publish, startNode, type TestClient } from '../helpers/harness.js';
import { RedisServer, waitFor } from '../helpers/redisServer.js';
import { Receiver } from './receiver.js';
import { openSocketsTo } from '../helpers/openSockets.js';

const run = promisify(execFile);
const WEBHOOK_SECRET = 'webhook-secret-0123456789';
const servers: RedisServer[] = [];
const receiver = new Receiver(WEBHOOK_SECRET);
const nodes: HeraldNode[] = [];
const clients: TestClient[] = [];

before(async () => {
  for (let i = 0; i < 3; i++) servers.push(await RedisServer.start({ cluster: true }));
  // Bounded: a cluster that never forms fails here, naming the step, instead of hanging the file.
  await run('redis-cli', ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
  for (const s of servers) {
    await waitFor(`cluster state ok on ${s.port}`, async () => (await run('redis-cli', ['-p', String(s.port), 'cluster', 'info'], { timeout: 5000 })).stdout.includes('cluster_state:ok'), 20_000, 100);
  }
  await receiver.start();
});

after(async () => {
  for (const c of clients) c.close();
  await Promise.all(nodes.map((n) => n.close()));
  await receiver.stop();
  for (const s of servers) await s.stop();
});

test('webhooks on Redis Cluster: every event once, exact online/offline, unacked, across slots', { timeout: 90_000 }, async () => {
  const redisUrl = `redis+cluster://${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`;
  const cfg = { engine: 'redis' as const, redisUrl, webhookUrl: receiver.url, webhookSecret: WEBHOOK_SECRET, webhookBatchMs: 20, nodeTtlMs: 1500, nodeHeartbeatMs: 300 };
  const A = await startNode({ ...cfg, nodeId: 'cl-a' });
  nodes.push(A);
  const B = await startNode({ ...cfg, nodeId: 'cl-b' });
  nodes.push(B);
  const users = Array.from({ length: 12 }, (_, i) => `user-${i}`);
  for (const [i, u] of users.entries()) {
    clients.push(await connect(A, u, { device: 'a' }));
    clients.push(await connect(B, u, { device: 'b' }));
    await publish(i % 2 ? A : B, { to: { user: u }, data: i });
  }
  await publish(A, { to: { user: 'nobody' }, data: 'x', notify_unacked_after: 1 });
  await waitFor('events of every user', () => users.every((u) => receiver.of('acked', u).length === 2 && receiver.of('online', u).length === 1), 15_000);
  for (const c of clients) c.close();
  await waitFor('offline of every user', () => users.every((u) => receiver.of('offline', u).length === 1), 15_000);
  await waitFor('unacked', () => receiver.of('unacked', 'nobody').length === 1, 10_000);
  const all = receiver.accepted();
  assert.equal(new Set(all.map((e) => e.id)).size, all.length, 'no event twice');
  for (const u of users) {
    assert.equal(receiver.of('online', u).length, 1);
    assert.equal(receiver.of('connect', u).length, 2);
    assert.equal(receiver.of('disconnect', u).length, 2);
  }
});

test('closed nodes leave no connection to the cluster behind', async () => {
  const ports = servers.map((s) => s.port);
  assert.ok(openSocketsTo(ports) > 0, 'the nodes are connected');
  for (const c of clients) c.close();
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  // Every client (commands, subscribers, sharded subscribers, outbox, deadlines) is closed, none reconnecting.
  await waitFor('no socket to the cluster', () => openSocketsTo(ports) === 0, 10_000);
});
