/**
 * Webhooks on the memory engine, against a real HTTP receiver: every event
 * type with its fields, signatures, order per user, retries that keep ids,
 * 4xx counted apart, unacked deadlines, the config guard and the outbox bound.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../src/config/load.js';
import { API_KEY, connect, nodeFactory, publish, startNode, type TestClient } from '../helpers/harness.js';
import { waitFor } from '../helpers/redisServer.js';
import type { HeraldNode } from '../../src/node.js';
import { Receiver } from './receiver.js';

const WEBHOOK_SECRET = 'webhook-secret-0123456789';
const node = nodeFactory();
const receiver = new Receiver(WEBHOOK_SECRET);
let n: HeraldNode;
const clients: TestClient[] = [];

before(async () => {
  await receiver.start();
  n = await node({ webhookUrl: receiver.url, webhookSecret: WEBHOOK_SECRET, webhookBatchMs: 20, webhookMaxBackoffMs: 200 });
});

after(async () => {
  for (const c of clients) c.close();
  await receiver.stop();
});

async function on(user: string, o: Parameters<typeof connect>[2] = {}): Promise<TestClient> {
  const c = await connect(n, user, o);
  clients.push(c);
  return c;
}

describe('webhooks (memory engine)', () => {
  test('every type arrives with its fields, signed, in order per user', async () => {
    const c = await on('ann', { device: 'd1', platform: 'pos' });
    assert.equal((await c.request({ type: 'join', room: 'lobby', id: 'j1' })).type, 'reply');
    c.send({ type: 'publish', room: 'lobby', data: { text: 'hi', n: [1, 2] }, id: 'p1' });
    await c.waitFor((f) => f.type === 'reply' && f.id === 'p1');
    assert.equal((await c.request({ type: 'leave', room: 'lobby', id: 'l1' })).type, 'reply');
    const r = await publish(n, { to: { user: 'ann' }, data: { k: 1 } });
    const m = await c.waitFor((f) => f.type === 'message' && f.seq === 1);
    c.send({ type: 'ack', seq: 1 });
    await waitFor('acked event', () => receiver.of('acked', 'ann').length === 1);
    c.close();
    await waitFor('offline event', () => receiver.of('offline', 'ann').length === 1);

    const evs = receiver.unique().filter((e) => e.user === 'ann');
    assert.deepEqual(
      evs.map((e) => e.type),
      ['connect', 'online', 'join', 'publish', 'leave', 'acked', 'disconnect', 'offline'],
      'order per user',
    );
    for (const e of evs) {
      assert.equal(e.tenant, 'default');
      assert.equal(e.node, n.nodeId);
      assert.equal(typeof e.id, 'string');
      assert.ok(Math.abs(e.ts - Date.now()) < 60_000, 'ts in ms');
      assert.equal(e.device, 'd1');
      assert.equal(e.platform, 'pos');
      assert.match(String(e.conn), /\./);
    }
    const by = (t: string) => evs.find((e) => e.type === t)!;
    assert.equal(by('join').room, 'lobby');
    assert.equal(by('leave').room, 'lobby');
    assert.deepEqual(by('publish').data, { text: 'hi', n: [1, 2] });
    assert.equal(typeof by('publish').message_id, 'string');
    assert.equal(by('acked').seq, 1);
    assert.equal(by('acked').message_id, r.body.id);
    assert.equal(by('acked').message_id, m.id);
    assert.equal(by('disconnect').code, 1005);
    assert.equal(typeof by('disconnect').reason, 'string');
    // Every request is signed with the webhook secret, verifiable by the receiver.
    assert.ok(receiver.requests.length > 0);
    for (const req of receiver.requests) assert.ok(receiver.verified(req), 'signature verifies');
    assert.equal(new Set(receiver.accepted().map((e) => e.id)).size, receiver.accepted().length, 'no duplicates without failures');
  });

  test('acked: one event per message per device; messages for another device are not acked by this one', async () => {
    const a = await on('bea', { device: 'a' });
    const b = await on('bea', { device: 'b' });
    await publish(n, { to: { user: 'bea' }, data: 1 });
    await publish(n, { to: { user: 'bea', device: 'b' }, data: 2 });
    await publish(n, { to: { user: 'bea' }, data: 3 });
    await a.waitFor((f) => f.seq === 3);
    await b.waitFor((f) => f.seq === 3);
    a.send({ type: 'ack', seq: 3 });
    b.send({ type: 'ack', seq: 3 });
    await waitFor('5 acked', () => receiver.of('acked', 'bea').length === 5);
    const acked = receiver.of('acked', 'bea').map((e) => `${e.device}:${e.seq}`).sort();
    assert.deepEqual(acked, ['a:1', 'a:3', 'b:1', 'b:2', 'b:3']);
    // One online for two devices; offline only when the last one leaves.
    assert.equal(receiver.of('online', 'bea').length, 1);
    a.close();
    await waitFor('disconnect a', () => receiver.of('disconnect', 'bea').length === 1);
    assert.equal(receiver.of('offline', 'bea').length, 0);
    b.close();
    await waitFor('offline', () => receiver.of('offline', 'bea').length === 1);
  });

  test('a 503 is retried with the same ids; a 400 is retried too and counted apart', async () => {
    receiver.queue.push(503, 503, 400);
    const before = receiver.requests.length;
    const c = await on('cid', { device: 'x' });
    await waitFor('accepted after retries', () => receiver.of('online', 'cid').length === 1);
    const sent = receiver.requests.slice(before);
    assert.ok(sent.length >= 4, 'three failures then a success');
    const failed = sent.filter((r) => r.status !== 200);
    const ok = sent.find((r) => r.status === 200)!;
    for (const f of failed) assert.deepEqual(f.events.map((e) => e.id), ok.events.slice(0, f.events.length).map((e) => e.id), 'same events, same ids');
    const stats = n.webhooks!.stats;
    assert.ok(stats.total('retried') >= 2);
    assert.ok(stats.total('rejected') >= 1);
    assert.equal(n.webhooks!.status().lastError && (n.webhooks!.status().lastError as { message: string }).message, 'HTTP 400');
    c.close();
  });

  test('unacked: fires once for a message nobody acked in time, never for one acked in time', async () => {
    const dan = await on('dan', { device: 'p' });
    dan.autoAck = false; // online, receives, never acks
    await on('frank', { device: 'q' }); // acks at once
    await on('gus', { device: 'x' }); // acks at once, but a message for device y is not his
    const pub = (to: Record<string, string>) => publish(n, { to, data: 'm', notify_unacked_after: 1 });
    const d = await pub({ user: 'dan' });
    const e = await pub({ user: 'eve' }); // offline
    const f = await pub({ user: 'frank' });
    const gx = await pub({ user: 'gus', device: 'x' });
    const gy = await pub({ user: 'gus', device: 'y' });
    for (const r of [d, e, f, gx, gy]) assert.equal(r.status, 200);
    await dan.waitFor((x) => x.seq === 1);
    await waitFor('acks of frank and gus', () => receiver.of('acked', 'frank').length === 1 && receiver.of('acked', 'gus').length === 1);
    await waitFor('unacked of dan, eve and gus/y', () => receiver.of('unacked').length >= 3, 8000);
    // Another check round and a little time: nothing more comes.
    n.webhooks!.poke();
    const un = receiver.of('unacked');
    assert.deepEqual(un.map((x) => x.message_id).sort(), [d.body.id, e.body.id, gy.body.id].sort());
    const gyEvent = un.find((x) => x.user === 'gus')!;
    assert.equal(gyEvent.device, 'y');
    assert.equal(gyEvent.seq, 2);
    assert.equal(un.find((x) => x.user === 'eve')!.seq, 1);
    // Bad values answer 400 naming the field.
    assert.equal((await publish(n, { to: { user: 'dan' }, data: 1, notify_unacked_after: 0 })).status, 400);
    const tooLong = await publish(n, { to: { user: 'dan' }, data: 1, notify_unacked_after: 86_401 });
    assert.equal(tooLong.status, 400);
    assert.equal((tooLong.body.error as { field: string }).field, 'notify_unacked_after');
    assert.equal((await publish(n, { to: { room: 'r' }, data: 1, notify_unacked_after: 5 })).status, 400);
    assert.equal(receiver.of('unacked').length, 3, 'exactly one per message');
  });
});

describe('webhook configuration and bounds', () => {
  test('a webhook URL without the secret fails start-up with a config error', async () => {
    await assert.rejects(startNode({ webhookUrl: 'http://127.0.0.1:9/hook' }), (err: unknown) => err instanceof ConfigError && /webhookSecret/.test(err.message));
  });

  test('webhookBatchSize caps events per POST; webhookTimeoutMs fails a POST nobody answers (then retried)', async () => {
    const small = new Receiver(WEBHOOK_SECRET);
    await small.start();
    const m = await node({ webhookUrl: small.url, webhookSecret: WEBHOOK_SECRET, webhookBatchSize: 2, webhookBatchMs: 20, webhookEvents: 'connect,online' });
    for (const u of ['b1', 'b2', 'b3']) clients.push(await connect(m, u));
    await waitFor('six events', () => small.unique().length === 6);
    assert.ok(small.requests.every((r) => r.events.length <= 2), 'at most 2 events per POST');
    await small.stop();

    const { createServer } = await import('node:http');
    const hang = createServer(() => {}); // accepts, never answers
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    const port = (hang.address() as { port: number }).port;
    const t = await node({ webhookUrl: `http://127.0.0.1:${port}/`, webhookSecret: WEBHOOK_SECRET, webhookTimeoutMs: 200, webhookBatchMs: 20, webhookMaxBackoffMs: 200 });
    clients.push(await connect(t, 'slowpoke'));
    await waitFor('timed-out attempts retried', () => t.webhooks!.stats.total('retried') >= 2 * 2);
    assert.match(String((t.webhooks!.status().lastError as { message: string }).message), /no answer within 200 ms/);
    // The admin feed shows the outbox depth and the last delivery error.
    const res = await fetch(t.url + '/admin/api/stats', { headers: { authorization: `Bearer ${API_KEY}` } });
    const body = (await res.json()) as { webhooks: { outboxDepth: number; lastError: { message: string } } };
    assert.ok(body.webhooks.outboxDepth >= 0);
    assert.match(body.webhooks.lastError.message, /no answer/);
    hang.closeAllConnections();
    hang.close();
  });

  test('the memory outbox is bounded: over webhookMemoryMaxEvents new events are dropped and counted', async () => {
    const dead = new Receiver(WEBHOOK_SECRET);
    await dead.start();
    dead.status = 503;
    const m = await node({ webhookUrl: dead.url, webhookSecret: WEBHOOK_SECRET, webhookMemoryMaxEvents: 2, webhookEvents: 'connect', webhookBatchMs: 20 });
    for (const u of ['u1', 'u2', 'u3', 'u4']) clients.push(await connect(m, u));
    await waitFor('drops counted', () => m.webhooks!.stats.total('dropped_overflow') === 2);
    assert.equal(m.webhooks!.stats.total('emitted'), 4);
    await m.webhooks!.refreshDepth();
    assert.equal(m.webhooks!.stats.depth.depth, 2);
    await dead.stop();
  });
});
