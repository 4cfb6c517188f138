/**
 * Webhooks on the Redis engine: two nodes on one Redis (a unique key prefix)
 * and one real receiver. Each event is emitted once for the cluster, online
 * and offline are exact across nodes, an unacked deadline fires once, a
 * receiver that goes away and comes back loses nothing, and a node killed
 * with SIGKILL ends in `disconnect` (1006, "node lost") and `offline` sent by
 * the other nodes.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import type { HeraldNode } from '../../src/node.js';
import { spawnRedisNode, connect, publish, startNode, type TestClient } from '../helpers/harness.js';
import { deleteKeys, freePort, sharedRedis, testPrefix, waitFor } from '../helpers/redisServer.js';
import { partitionOf } from '../../src/webhooks/event.js';
import { Receiver } from './receiver.js';
import { openSocketsTo } from '../helpers/openSockets.js';

const WEBHOOK_SECRET = 'webhook-secret-0123456789';
// Small liveness and lease times keep the crash test short.
const FAST = { nodeTtlMs: 1500, nodeHeartbeatMs: 300, webhookBatchMs: 20, webhookMaxBackoffMs: 300 };
const prefix = testPrefix();
const receiver = new Receiver(WEBHOOK_SECRET);
let redisUrl: string;
let admin: Redis;
let A: HeraldNode;
let B: HeraldNode;
/** Connections to Redis this process had before the nodes started (the test's own admin client). */
let baselineSockets = 0;
const clients: TestClient[] = [];
const children: ChildProcess[] = [];

before(async () => {
  ({ url: redisUrl, client: admin } = await sharedRedis());
  await receiver.start();
  baselineSockets = openSocketsTo([Number(new URL(redisUrl).port || 6379)]);
  const cfg = { engine: 'redis' as const, redisUrl, redisKeyPrefix: prefix, webhookUrl: receiver.url, webhookSecret: WEBHOOK_SECRET, ...FAST };
  A = await startNode({ ...cfg, nodeId: 'wh-a' });
  B = await startNode({ ...cfg, nodeId: 'wh-b' });
});

after(async () => {
  for (const c of clients) c.close();
  for (const ch of children) ch.kill('SIGKILL');
  await Promise.all([A?.close(), B?.close()]);
  await receiver.stop();
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

async function on(node: HeraldNode, user: string, device: string): Promise<TestClient> {
  const c = await connect(node, user, { device });
  clients.push(c);
  return c;
}

describe('webhooks on Redis, two nodes', () => {
  test('each event is emitted once for the cluster; online/offline exact across nodes', async () => {
    const d1 = await on(A, 'alice', 'd1');
    const d2 = await on(B, 'alice', 'd2');
    await waitFor('two connects', () => receiver.of('connect', 'alice').length === 2);
    const r = await publish(A, { to: { user: 'alice' }, data: { x: 1 } });
    await waitFor('acked by both devices', () => receiver.of('acked', 'alice').length === 2);
    d1.close();
    await waitFor('d1 disconnect', () => receiver.of('disconnect', 'alice').length === 1);
    d2.close();
    await waitFor('offline', () => receiver.of('offline', 'alice').length === 1);

    const all = receiver.accepted().filter((e) => e.user === 'alice');
    // No failures happened, so no retries: every event arrived exactly once.
    assert.equal(new Set(all.map((e) => e.id)).size, all.length, 'no event sent twice');
    const count = (t: string) => all.filter((e) => e.type === t).length;
    assert.deepEqual(
      { connect: count('connect'), online: count('online'), acked: count('acked'), disconnect: count('disconnect'), offline: count('offline') },
      { connect: 2, online: 1, acked: 2, disconnect: 2, offline: 1 },
    );
    assert.deepEqual(all.filter((e) => e.type === 'acked').map((e) => [e.device, e.seq, e.message_id]).sort(), [
      ['d1', 1, r.body.id],
      ['d2', 1, r.body.id],
    ]);
    // The nodes that held the connections emitted their events.
    assert.deepEqual(all.filter((e) => e.type === 'connect').map((e) => `${e.device}@${e.node}`).sort(), ['d1@wh-a', 'd2@wh-b']);
    // Order per user: online before offline, connects before their disconnects. (offline is written
    // with the presence change, before the disconnect of the connection that caused it is made.)
    const order = all.map((e) => e.type);
    assert.ok(order.indexOf('online') < order.indexOf('offline'));
    for (const c of all.filter((e) => e.type === 'connect')) {
      assert.ok(all.indexOf(c) < all.findIndex((e) => e.type === 'disconnect' && e.conn === c.conn), `connect before disconnect of ${String(c.conn)}`);
    }
    assert.equal(order.filter((t) => t === 'online' || t === 'offline').at(-1), 'offline');
  });

  test('an unacked deadline fires once for the cluster, whichever node scans it', async () => {
    const r = await publish(A, { to: { user: 'zed' }, data: 'hello', notify_unacked_after: 1 });
    assert.equal(r.status, 200);
    await waitFor('unacked', () => receiver.of('unacked', 'zed').length === 1, 8000);
    // The shared deadline store is empty: no node can fire it again.
    await waitFor('deadline settled', async () => (await admin.zcard(`${prefix}webhooks:{deadlines}:due`)) + (await admin.zcard(`${prefix}webhooks:{deadlines}:claimed`)) === 0);
    A.webhooks!.poke();
    B.webhooks!.poke();
    const all = receiver.accepted().filter((e) => e.type === 'unacked' && e.user === 'zed');
    assert.equal(all.length, 1);
    assert.equal(all[0]!.message_id, r.body.id);
    assert.equal(all[0]!.seq, 1);
  });

  test('a receiver that goes away and comes back loses nothing', async () => {
    await receiver.stop();
    for (let i = 0; i < 6; i++) await on(i % 2 ? A : B, `r${i}`, 'x');
    // Queued in the Redis outbox while nobody answers.
    await waitFor('events waiting in Redis', async () => {
      await A.webhooks!.refreshDepth();
      return A.webhooks!.stats.depth.depth >= 6;
    });
    await receiver.start(receiver.port);
    await waitFor('every online after the receiver returned', () => [0, 1, 2, 3, 4, 5].every((i) => receiver.of('online', `r${i}`).length === 1), 10_000);
    assert.ok(A.webhooks!.stats.total('retried') + B.webhooks!.stats.total('retried') > 0, 'failed attempts were retried');
  });

  test('kill -9 of the node holding a user, mid-request: its events are sent by another node, then disconnect (1006, node lost) and offline', async () => {
    const port = await freePort();
    const child = spawnRedisNode({ redisUrl: redisUrl, prefix: prefix, port, nodeId: 'doomed', env: { HERALD_WEBHOOK_URL: receiver.url, HERALD_WEBHOOK_SECRET: WEBHOOK_SECRET, HERALD_NODE_TTL_MS: String(FAST.nodeTtlMs), HERALD_NODE_HEARTBEAT_MS: String(FAST.nodeHeartbeatMs), HERALD_WEBHOOK_BATCH_MS: '20' } });
    children.push(child);
    const exited = new Promise((r) => child.once('exit', r));
    const url = `http://127.0.0.1:${port}`;
    await waitFor('doomed node up', async () => (await fetch(url + '/healthz').catch(() => undefined))?.ok, 20_000);
    // The doomed node takes its fair share of outbox partitions; kim's events go to one of them.
    const leases = () => Promise.all(Array.from({ length: 16 }, (_, p) => admin.get(`${prefix}webhooks:{${p}}:lease`)));
    const held = await waitFor('the doomed node sends some partitions', async () => {
      const l = await leases();
      const mine = l.flatMap((v, p) => (v?.startsWith('doomed:') ? [p] : []));
      return mine.length > 0 ? mine : undefined;
    }, 10_000);
    const user = Array.from({ length: 200 }, (_, i) => `kim${i}`).find((u) => held.includes(partitionOf('default', u, 16)))!;
    const stream = `${prefix}webhooks:{${partitionOf('default', user, 16)}}:outbox`;
    // The receiver hangs: the doomed node reads kim's connect/online and dies mid-request.
    receiver.hang = true;
    const kim = await connect({ url } as HeraldNode, user, { device: 'k1', platform: 'pos' });
    clients.push(kim);
    await waitFor('doomed has the events in flight', async () => {
      const pending = (await admin.xpending(stream, 'herald-webhooks')) as [number, string, string, [string, string][] | null];
      return pending[0] > 0 && (pending[3] ?? []).some(([c]) => c.startsWith('doomed:'));
    }, 10_000);
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await exited;
    receiver.release();
    // Another node takes the partition over, claims the entries the dead sender had read, sends them.
    await waitFor('online sent again by a survivor', () => receiver.of('online', user).length === 1, 20_000);
    assert.equal(receiver.of('online', user)[0]!.node, 'doomed', 'emitted by the node that held the device');
    assert.equal(receiver.of('connect', user).length, 1);
    await waitFor('offline after the crash', () => receiver.of('offline', user).length === 1, 20_000);
    const tookMs = Date.now() - killedAt;
    const lost = receiver.of('disconnect', user);
    assert.equal(lost.length, 1);
    assert.equal(lost[0]!.code, 1006);
    assert.equal(lost[0]!.reason, 'node lost');
    assert.equal(lost[0]!.device, 'k1');
    assert.equal(lost[0]!.platform, 'pos');
    const off = receiver.of('offline', user)[0]!;
    assert.notEqual(off.node, 'doomed');
    assert.ok(['wh-a', 'wh-b'].includes(off.node));
    assert.ok(tookMs < 15_000, `offline within the bound (${tookMs} ms)`);
    // Reaped once: exactly one offline even though both survivors scan.
    A.webhooks!.poke();
    B.webhooks!.poke();
    assert.equal(receiver.accepted().filter((e) => e.type === 'offline' && e.user === user).length, 1);
    // Its outbox partitions were taken over, and its consumer removed from the group.
    await waitFor('dead consumer forgotten', async () => {
      const consumers = (await admin.xinfo('CONSUMERS', stream, 'herald-webhooks')) as unknown[][];
      return !consumers.some((c) => String(c[1]).startsWith('doomed:'));
    }, 10_000);
  });
});

describe('exact online/offline under races', () => {
  test('two devices of a user connecting at the same instant on two nodes: one online; leaving together: one offline', async () => {
    const rounds = 4;
    for (let i = 0; i < rounds; i++) {
      const [a, b] = await Promise.all([connect(A, 'ray', { device: 'a' }), connect(B, 'ray', { device: 'b' })]);
      await waitFor(`online round ${i}`, () => receiver.of('online', 'ray').length === i + 1);
      a.close();
      b.close();
      await waitFor(`offline round ${i}`, () => receiver.of('offline', 'ray').length === i + 1);
    }
    // Once both devices are gone, nothing more: exactly one online and one offline per round.
    await waitFor('all disconnects', () => receiver.of('disconnect', 'ray').length === 2 * rounds);
    assert.equal(receiver.of('online', 'ray').length, rounds);
    assert.equal(receiver.of('offline', 'ray').length, rounds);
    const types = receiver.of('online', 'ray').concat(receiver.of('offline', 'ray')).sort((x, y) => x.ts - y.ts).map((e) => e.type);
    assert.deepEqual(types, Array.from({ length: rounds }, () => ['online', 'offline']).flat());
  });
});

test('closed nodes leave no Redis connection behind', async () => {
  const ports = [Number(new URL(redisUrl).port || 6379)];
  assert.ok(openSocketsTo(ports) > baselineSockets, 'the nodes are connected');
  for (const c of clients.splice(0)) c.close();
  await Promise.all([A.close(), B.close()]);
  // Commands, subscriber, outbox, deadlines, presence: every client closed, none reconnecting.
  await waitFor('no node socket to Redis', () => openSocketsTo(ports) === baselineSockets, 10_000);
});
