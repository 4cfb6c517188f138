/**
 * The lifecycle seam (events/lifecycle.ts) through a real node: every fact is
 * emitted once, from the place it happens, with the session it is about —
 * connect, cluster online/offline, rooms, client publishes, delivery, acks
 * (listing exactly the messages this device was sent), replacement.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AckedMessage, LifecycleListener, SessionRef } from '../../src/events/lifecycle.js';
import { connect, nodeFactory, publish, waitUntil } from '../helpers/harness.js';

const node = nodeFactory();

type Rec = { kind: string; conn?: string; device?: string; [k: string]: unknown };

function recorder(): { events: Rec[]; listener: LifecycleListener } {
  const events: Rec[] = [];
  const who = (s: SessionRef | undefined) => (s ? { conn: s.id, device: s.device, user: s.user, tenant: s.tenant } : {});
  const listener: LifecycleListener = {
    wantsAckedMessages: true,
    connected: (s) => events.push({ kind: 'connected', ...who(s), platform: s.platform }),
    disconnected: (s, code, reason) => events.push({ kind: 'disconnected', ...who(s), code, reason }),
    online: (tenant, user, s) => events.push({ kind: 'online', tenant, user, conn: s.id }),
    offline: (tenant, user, reason) => events.push({ kind: 'offline', tenant, user, reason }),
    joined: (s, room) => events.push({ kind: 'joined', ...who(s), room }),
    left: (s, room) => events.push({ kind: 'left', ...who(s), room }),
    published: (s, room, id, data, event) => events.push({ kind: 'published', ...who(s), room, id, data, event }),
    delivered: (s, m, replay) => events.push({ kind: 'delivered', ...who(s), seq: m.seq, id: m.id, replay }),
    acked: (s, count, messages: readonly AckedMessage[] | undefined) => events.push({ kind: 'acked', ...who(s), count, messages: messages?.map((m) => ({ ...m })) }),
  };
  return { events, listener };
}

test('connect, online, rooms, client publish, leave, disconnect and offline are each emitted once', async () => {
  const n = await node();
  const { events, listener } = recorder();
  n.events.add(listener);
  const a = await connect(n, 'ada', { device: 'phone', platform: 'mobile' });
  await waitUntil(() => events.find((e) => e.kind === 'online'), 3000, 'online');
  const b = await connect(n, 'ada', { device: 'laptop', platform: 'web' });
  assert.equal((await b.request({ type: 'join', room: 'ops' })).type, 'reply');
  assert.equal((await b.request({ type: 'publish', room: 'ops', data: { hi: 1 }, event: 'chat' })).type, 'reply');
  assert.equal((await b.request({ type: 'leave', room: 'ops' })).type, 'reply');
  b.close();
  await waitUntil(() => events.find((e) => e.kind === 'disconnected' && e.device === 'laptop'), 3000, 'laptop disconnected');
  a.close();
  await waitUntil(() => events.find((e) => e.kind === 'offline'), 3000, 'offline');

  const kinds = events.filter((e) => e.kind !== 'delivered' && e.kind !== 'acked').map((e) => `${e.kind}${e.device ? ':' + e.device : ''}`);
  assert.deepEqual(kinds, [
    'connected:phone',
    'online',
    'connected:laptop',
    'joined:laptop',
    'published:laptop',
    'left:laptop',
    'disconnected:laptop',
    'disconnected:phone',
    'offline',
  ]);
  const pub = events.find((e) => e.kind === 'published')!;
  assert.equal(pub.room, 'ops');
  assert.equal(pub.data, '{"hi":1}');
  assert.equal(pub.event, 'chat');
  assert.equal(events.find((e) => e.kind === 'connected' && e.device === 'phone')!.platform, 'mobile');
  assert.equal(events.find((e) => e.kind === 'offline')!.reason, 'disconnected');
  assert.equal(events.find((e) => e.kind === 'disconnected' && e.device === 'phone')!.code, 1005);
});

test('acked lists exactly the reliable messages written to this device, with their publish ids', async () => {
  const n = await node();
  const { events, listener } = recorder();
  n.events.add(listener);
  const a = await connect(n, 'bob', { device: 'pos' });
  a.autoAck = false;
  const ids: string[] = [];
  for (const to of [{ user: 'bob' }, { user: 'bob', device: 'other' }, { user: 'bob' }]) {
    const r = await publish(n, { to, data: 1 });
    assert.equal(r.status, 200);
    ids.push(r.body.id as string);
  }
  await a.waitForCount((f) => f.type === 'message', 2, 3000, 'two messages');
  await waitUntil(() => (events.filter((e) => e.kind === 'delivered').length === 2 ? true : undefined), 3000, 'two delivered');
  a.send({ type: 'ack', seq: 3 });
  const acked = await waitUntil(() => events.find((e) => e.kind === 'acked'), 3000, 'acked');
  // Seq 2 was the other device's: skipped, neither delivered nor acked here.
  assert.equal(acked.count, 2);
  assert.deepEqual(acked.messages, [
    { seq: 1, id: ids[0] },
    { seq: 3, id: ids[2] },
  ]);
  assert.deepEqual(
    events.filter((e) => e.kind === 'delivered').map((e) => [e.seq, e.id, e.replay]),
    [
      [1, ids[0], false],
      [3, ids[2], false],
    ],
  );
  a.close();
});

test('a replaced connection is reported disconnected with 4004, and the user stays online', async () => {
  const n = await node();
  const { events, listener } = recorder();
  n.events.add(listener);
  const first = await connect(n, 'cy', { device: 'd1' });
  await waitUntil(() => events.find((e) => e.kind === 'online'), 3000, 'online');
  const second = await connect(n, 'cy', { device: 'd1' });
  assert.equal((await first.waitClosed()).code, 4004);
  const gone = await waitUntil(() => events.find((e) => e.kind === 'disconnected'), 3000, 'disconnected');
  assert.equal(gone.code, 4004);
  assert.equal(gone.conn, events.filter((e) => e.kind === 'connected')[0]!.conn);
  // Give a stray offline the time a presence read takes; none may come while `second` is up.
  assert.equal((await second.request({ type: 'presence', room: 'x' })).type, 'reply');
  assert.equal(events.filter((e) => e.kind === 'offline').length, 0);
  assert.equal(events.filter((e) => e.kind === 'online').length, 1);
  second.close();
});

test('a node with no listener but metrics emits at no cost: has() is false for every optional kind', async () => {
  const n = await node();
  for (const k of ['online', 'offline', 'joined', 'left', 'published'] as const) assert.equal(n.events.has(k), false, k);
  assert.equal(n.events.wantsAckedMessages, false);
});
