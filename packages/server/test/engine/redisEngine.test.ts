/**
 * RedisEngine against the shared Redis: inbox semantics (same as the memory
 * engine), cursors, idempotency, presence and pub/sub between two engines.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisEngine } from '../../src/engine/redis/redisEngine.js';
import type { BusEvent, DevicePresence, LocalView, Retention, Route } from '../../src/engine/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { deleteKeys, sharedRedis, testPrefix, waitFor } from '../helpers/redisServer.js';

const logger = createLogger(process.env.HERALD_LOG_LEVEL ?? 'silent');
const R: Retention = { maxMessages: 1000, maxAgeMs: 7 * 86_400_000 };

function view(counts: Partial<Record<string, number>> = {}): LocalView {
  return {
    userDevices: () => [],
    roomMembers: () => [],
    count: (r: Route) => counts[r.kind === 'tenant' ? `tenant:${r.tenant}` : r.kind] ?? 0,
  };
}

let url: string;
let admin: Redis;
const prefix = testPrefix();
const engines: RedisEngine[] = [];

async function engine(nodeId: string, events: BusEvent[] = [], local: LocalView = view(), presence = {}): Promise<RedisEngine> {
  const e = new RedisEngine({ url, keyPrefix: prefix, nodeId, logger, presence });
  engines.push(e);
  await e.start((ev) => events.push(ev), local);
  return e;
}

const msg = (id: string, extra: Partial<{ ts: number; device: string; event: string; expiresAt: number; data: string }> = {}) => ({
  id,
  ts: Date.now(),
  data: JSON.stringify({ id }),
  ...extra,
});

before(async () => {
  ({ url, client: admin } = await sharedRedis());
});

after(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

describe('inbox', () => {
  test('append assigns dense per-user seqs and readAfter returns the stored fields', async () => {
    const e = await engine('inbox-a');
    const a = await e.append('t1', 'alice', msg('m1', { event: 'order', device: 'pos-1' }), R);
    const b = await e.append('t1', 'alice', msg('m2', { expiresAt: Date.now() + 60_000 }), R);
    const other = await e.append('t1', 'bob', msg('m3'), R);
    const otherTenant = await e.append('t2', 'alice', msg('m4'), R);
    assert.deepEqual([a.seq, b.seq, other.seq, otherTenant.seq], [1, 2, 1, 1]);
    const r = await e.readAfter('t1', 'alice', 0, 100, R);
    assert.equal(r.tip, 2);
    assert.equal(r.floor, 0);
    assert.deepEqual(r.messages, [a, b]);
    assert.equal(r.messages[0]!.device, 'pos-1');
    assert.equal(r.messages[0]!.event, 'order');
    assert.deepEqual(JSON.parse(r.messages[1]!.data), { id: 'm2' });
    const after1 = await e.readAfter('t1', 'alice', 1, 100, R);
    assert.deepEqual(after1.messages.map((m) => m.seq), [2]);
    const none = await e.readAfter('t1', 'nobody', 0, 100, R);
    assert.deepEqual(none, { messages: [], tip: 0, floor: 0 });
  });

  test('ids with key-structure characters stay in their own keys', async () => {
    const e = await engine('inbox-esc');
    await e.append('t:{x}', 'u}1%', msg('m1'), R);
    await e.append('t', '{x}:u}1%', msg('m2'), R);
    assert.deepEqual((await e.readAfter('t:{x}', 'u}1%', 0, 10, R)).messages.map((m) => m.id), ['m1']);
    assert.deepEqual((await e.readAfter('t', '{x}:u}1%', 0, 10, R)).messages.map((m) => m.id), ['m2']);
  });

  test('limit bounds a read; later reads continue after the last seq', async () => {
    const e = await engine('inbox-limit');
    for (let i = 1; i <= 10; i++) await e.append('t', 'lim', msg(`m${i}`), R);
    const first = await e.readAfter('t', 'lim', 0, 4, R);
    assert.deepEqual(first.messages.map((m) => m.seq), [1, 2, 3, 4]);
    const next = await e.readAfter('t', 'lim', 4, 4, R);
    assert.deepEqual(next.messages.map((m) => m.seq), [5, 6, 7, 8]);
    assert.equal(next.tip, 10);
  });

  test('count retention drops the oldest and raises the floor', async () => {
    const e = await engine('inbox-count');
    const r3: Retention = { maxMessages: 3, maxAgeMs: R.maxAgeMs };
    for (let i = 1; i <= 5; i++) await e.append('t', 'cnt', msg(`m${i}`), r3);
    const r = await e.readAfter('t', 'cnt', 0, 100, r3);
    assert.deepEqual(r.messages.map((m) => m.seq), [3, 4, 5]);
    assert.equal(r.floor, 2);
    assert.equal(r.tip, 5);
    assert.equal(await admin.xlen(e.keys.userInbox('t', 'cnt')), 3);
  });

  test('age retention (by message ts) drops old messages and raises the floor', async () => {
    const e = await engine('inbox-age');
    const ra: Retention = { maxMessages: 100, maxAgeMs: 60_000 };
    const now = Date.now();
    await e.append('t', 'age', msg('old1', { ts: now - 120_000 }), { ...ra, maxAgeMs: 10 * 60_000 });
    await e.append('t', 'age', msg('old2', { ts: now - 90_000 }), { ...ra, maxAgeMs: 10 * 60_000 });
    // The third append applies the 60 s limit: the first two go.
    await e.append('t', 'age', msg('new', { ts: now }), ra);
    const r = await e.readAfter('t', 'age', 0, 100, ra);
    assert.deepEqual(r.messages.map((m) => m.id), ['new']);
    assert.equal(r.floor, 2);
  });

  test('expired messages are left out and do not raise the floor', async () => {
    const e = await engine('inbox-ttl');
    const now = Date.now();
    await e.append('t', 'ttl', msg('gone1', { expiresAt: now - 1 }), R);
    await e.append('t', 'ttl', msg('keep1'), R);
    await e.append('t', 'ttl', msg('gone2', { expiresAt: now - 1 }), R);
    await e.append('t', 'ttl', msg('keep2', { expiresAt: now + 60_000 }), R);
    await e.append('t', 'ttl', msg('keep3'), R);
    const r = await e.readAfter('t', 'ttl', 0, 2, R);
    // The expired message in the middle is skipped and the limit is still filled.
    assert.deepEqual(r.messages.map((m) => m.id), ['keep1', 'keep2']);
    assert.equal(r.floor, 0);
    const all = await e.readAfter('t', 'ttl', 0, 100, R);
    assert.deepEqual(all.messages.map((m) => m.id), ['keep1', 'keep2', 'keep3']);
    // The expired head was trimmed from Redis, the one behind a live message stays until it reaches the head.
    assert.equal(await admin.xlen(e.keys.userInbox('t', 'ttl')), 4);
  });

  test('an inbox key expired by age reports everything as dropped', async () => {
    const e = await engine('inbox-keyttl');
    const ra: Retention = { maxMessages: 100, maxAgeMs: 60_000 };
    await e.append('t', 'kt', msg('a', { ts: Date.now() - 120_000 }), { ...ra, maxAgeMs: 10 * 60_000 });
    // What Redis does on its own when the PEXPIRE set by append fires.
    await admin.del(e.keys.userInbox('t', 'kt'));
    const r = await e.readAfter('t', 'kt', 0, 100, ra);
    assert.deepEqual(r, { messages: [], tip: 1, floor: 1 });
    // The seq counter survives: the next message does not reuse seq 1.
    assert.equal((await e.append('t', 'kt', msg('b'), ra)).seq, 2);
  });

  test('append keeps inbox keys alive for the retention age only', async () => {
    const e = await engine('inbox-pttl');
    const ra: Retention = { maxMessages: 100, maxAgeMs: 60_000 };
    await e.append('t', 'pt', msg('a'), ra);
    const ttl = await admin.pttl(e.keys.userInbox('t', 'pt'));
    assert.ok(ttl > 60_000 && ttl <= 120_000, `inbox pttl ${ttl}`);
    assert.equal(await admin.pttl(e.keys.userMeta('t', 'pt')), -1, 'the seq counter never expires');
  });
});

describe('cursors and idempotency', () => {
  test('setCursor never moves a cursor backwards', async () => {
    const e = await engine('cursor');
    assert.equal(await e.getCursor('t', 'cu', 'd1'), undefined);
    await e.setCursor('t', 'cu', 'd1', 5);
    await e.setCursor('t', 'cu', 'd1', 3);
    assert.equal(await e.getCursor('t', 'cu', 'd1'), 5);
    await e.setCursor('t', 'cu', 'd1', 7);
    assert.equal(await e.getCursor('t', 'cu', 'd1'), 7);
    assert.equal(await e.getCursor('t', 'cu', 'd2'), undefined);
    assert.ok((await admin.pttl(e.keys.userCursors('t', 'cu'))) > 0, 'cursor hash has a TTL');
  });

  test('idempotency: claim, pending, done, release', async () => {
    const a = await engine('idem-a');
    const b = await engine('idem-b');
    assert.deepEqual(await a.idempotencyClaim('k1', 60_000), { state: 'new' });
    assert.deepEqual(await b.idempotencyClaim('k1', 60_000), { state: 'pending' });
    await a.idempotencyComplete('k1', '{"id":"x"}', 60_000);
    assert.deepEqual(await b.idempotencyClaim('k1', 60_000), { state: 'done', result: '{"id":"x"}' });
    assert.deepEqual(await b.idempotencyClaim('k2', 60_000), { state: 'new' });
    await b.idempotencyRelease('k2');
    assert.deepEqual(await a.idempotencyClaim('k2', 60_000), { state: 'new' });
    // Concurrent claims: exactly one owner.
    const claims = await Promise.all([a, b, a, b].map((e) => e.idempotencyClaim('k3', 60_000)));
    assert.equal(claims.filter((c) => c.state === 'new').length, 1);
  });
});

describe('presence', () => {
  const dev = (node: string, device: string, conn: string, tenant = 'pt', user = 'pu'): DevicePresence => ({
    tenant,
    user,
    device,
    platform: 'pos',
    node,
    conn,
    since: Date.now(),
  });

  test('devices and room members are visible from other nodes', async () => {
    const a = await engine('pres-a');
    const b = await engine('pres-b');
    await a.presenceAdd(dev('pres-a', 'd1', 'c1'));
    await b.presenceAdd(dev('pres-b', 'd2', 'c2'));
    const seen = await a.userPresence('pt', 'pu');
    assert.deepEqual(seen.map((d) => [d.device, d.node, d.platform]).sort(), [['d1', 'pres-a', 'pos'], ['d2', 'pres-b', 'pos']]);
    assert.equal(await b.onlineCount({ kind: 'user', tenant: 'pt', user: 'pu' }), 2);
    assert.equal(await b.onlineCount({ kind: 'user', tenant: 'pt', user: 'pu', device: 'd1' }), 1);

    await a.roomJoin('pt', 'lobby', { user: 'pu', device: 'd1', node: 'pres-a' });
    await b.roomJoin('pt', 'lobby', { user: 'x:y', device: 'd{2}', node: 'pres-b' });
    assert.deepEqual(await a.roomPresence('pt', 'lobby'), [
      { user: 'pu', device: 'd1', node: 'pres-a' },
      { user: 'x:y', device: 'd{2}', node: 'pres-b' },
    ]);
    assert.equal(await a.onlineCount({ kind: 'room', tenant: 'pt', room: 'lobby' }), 2);
    await b.roomLeave('pt', 'lobby', { user: 'x:y', device: 'd{2}', node: 'pres-b' });
    assert.equal(await a.onlineCount({ kind: 'room', tenant: 'pt', room: 'lobby' }), 1);

    await b.presenceRemove(dev('pres-b', 'd2', 'c2'));
    assert.deepEqual((await a.userPresence('pt', 'pu')).map((d) => d.device), ['d1']);
  });

  test('a late removal of a replaced connection does not erase the new one', async () => {
    const a = await engine('repl-a');
    const b = await engine('repl-b');
    await a.presenceAdd(dev('repl-a', 'd1', 'old', 'pt', 'rp'));
    await b.presenceAdd(dev('repl-b', 'd1', 'new', 'pt', 'rp'));
    await a.presenceRemove(dev('repl-a', 'd1', 'old', 'pt', 'rp'));
    assert.deepEqual((await a.userPresence('pt', 'rp')).map((d) => [d.device, d.conn, d.node]), [['d1', 'new', 'repl-b']]);
  });

  test('tenant and cluster counts add other live nodes to the local count', async () => {
    const a = await engine('cnt-a', [], view({ 'tenant:ct': 2, all: 5 }));
    const b = await engine('cnt-b', [], view({ 'tenant:ct': 1, all: 1 }));
    await b.presenceAdd(dev('cnt-b', 'd9', 'c9', 'ct', 'u9'));
    await b.refreshPresence();
    assert.equal(await a.onlineCount({ kind: 'tenant', tenant: 'ct' }), 3);
    assert.equal(await a.onlineCount({ kind: 'tenant', tenant: 'other' }), 0);
    // 'all' also counts every other engine of this test file that is alive on this prefix, so compare with a delta.
    const before = await a.onlineCount({ kind: 'all' });
    await b.presenceAdd(dev('cnt-b', 'd10', 'c10', 'ct', 'u10'));
    await b.refreshPresence();
    assert.equal(await a.onlineCount({ kind: 'all' }), before + 1);
    await b.close();
    // A node that left is no longer counted.
    assert.equal(await a.onlineCount({ kind: 'tenant', tenant: 'ct' }), 2);
  });
});

describe('observability', () => {
  test('nodes() lists live nodes with their last report; stats() measures the round trip', async () => {
    const a = await engine('obs-a');
    const b = await engine('obs-b');
    await b.presenceAdd({ tenant: 'ot', user: 'ou', device: 'd1', platform: 'web', node: 'obs-b', conn: 'c1', since: 1 });
    await b.presenceAdd({ tenant: 'ot', user: 'ou', device: 'd2', platform: 'web', node: 'obs-b', conn: 'c2', since: 1 });
    await b.roomJoin('ot', 'r1', { user: 'ou', device: 'd1', node: 'obs-b' });
    await b.refreshPresence();
    const rows = await a.nodes();
    const rb = rows.find((r) => r.node === 'obs-b');
    assert.ok(rb, 'obs-b listed');
    assert.deepEqual({ connections: rb.connections, users: rb.users, rooms: rb.rooms }, { connections: 2, users: 1, rooms: 1 });
    assert.ok(rows.some((r) => r.node === 'obs-a'));
    await b.close();
    assert.equal((await a.nodes()).find((r) => r.node === 'obs-b'), undefined, 'a closed node leaves the list');
    const st = await a.stats();
    assert.equal(typeof st.redisRttSeconds, 'number');
    assert.ok(st.redisRttSeconds! >= 0);
    assert.deepEqual(st.errors, {});
  });
});

describe('pub/sub between nodes', () => {
  test('events reach subscribed nodes only, never the publisher itself', async () => {
    const ea: BusEvent[] = [];
    const eb: BusEvent[] = [];
    const ec: BusEvent[] = [];
    const a = await engine('bus-a', ea);
    const b = await engine('bus-b', eb);
    const c = await engine('bus-c', ec);
    const room: Route = { kind: 'room', tenant: 'bt', room: 'r1' };
    void a.subscribe(room);
    void b.subscribe(room);
    void c.subscribe({ kind: 'room', tenant: 'bt', room: 'r2' });
    await Promise.all([a.subscriptionsFlushed(), b.subscriptionsFlushed(), c.subscriptionsFlushed()]);
    const e1: BusEvent = { kind: 'deliver', route: room, frame: '{"type":"message","id":"1"}' };
    await a.publish(e1);
    await waitFor('b to receive e1', () => eb.length === 1);
    assert.deepEqual(eb, [e1]);
    const e2: BusEvent = { kind: 'deliver', route: room, frame: '{"type":"message","id":"2"}' };
    await b.publish(e2);
    // Redis delivers in publish order: had a's own echo of e1 not been dropped, it would precede e2.
    await waitFor('a to receive e2', () => ea.length === 1);
    assert.deepEqual(ea, [e2]);
    assert.deepEqual(eb, [e1], 'b does not see its own e2');
    assert.deepEqual(ec, [], 'c has no interest');
  });

  test('every route kind and event kind travels; device events ride the user channel', async () => {
    const eb: BusEvent[] = [];
    const a = await engine('kinds-a');
    const b = await engine('kinds-b', eb);
    const routes: Route[] = [
      { kind: 'user', tenant: 'kt', user: 'u1' },
      { kind: 'room', tenant: 'kt', room: 'r1' },
      { kind: 'tenant', tenant: 'kt' },
      { kind: 'all' },
    ];
    for (const r of routes) void b.subscribe(r);
    await b.subscriptionsFlushed();
    const events: BusEvent[] = [
      ...routes.map((route, i): BusEvent => ({ kind: 'deliver', route, frame: `{"i":${i}}` })),
      { kind: 'deliver', route: { kind: 'user', tenant: 'kt', user: 'u1', device: 'd1' }, frame: '{"d":1}' },
      { kind: 'disconnect', tenant: 'kt', user: 'u1', device: 'd1', code: 4011, reason: 'bye' },
      { kind: 'replace', tenant: 'kt', user: 'u1', device: 'd1', conn: 'c-new' },
    ];
    for (const ev of events) await a.publish(ev);
    const appended = await a.append('kt', 'u1', msg('im', { device: 'd1', event: 'ev' }), R);
    await waitFor('all events at b', () => eb.length === events.length + 1);
    assert.deepEqual(eb.slice(0, events.length), events);
    assert.deepEqual(eb[events.length], { kind: 'inbox', tenant: 'kt', user: 'u1', message: appended });
    // Other tenants' channels are separate.
    await a.publish({ kind: 'deliver', route: { kind: 'tenant', tenant: 'other' }, frame: '{}' });
    await a.publish({ kind: 'deliver', route: { kind: 'all' }, frame: '{"marker":true}' });
    await waitFor('marker', () => eb.length === events.length + 2);
    assert.deepEqual(eb.at(-1), { kind: 'deliver', route: { kind: 'all' }, frame: '{"marker":true}' });
  });

  test('a newly confirmed user channel re-announces the newest unexpired inbox message', async () => {
    const eb: BusEvent[] = [];
    const a = await engine('ra-a');
    const b = await engine('ra-b', eb);
    await a.append('rt', 'ra', msg('m1'), R);
    const m2 = await a.append('rt', 'ra', msg('m2'), R);
    await a.append('rt', 'ra', msg('m3', { expiresAt: Date.now() - 1 }), R);
    // A message appended before the subscription reached Redis was published to nobody: the
    // subscription re-announces the newest one, so a connection that missed it sees the gap.
    await b.subscribe({ kind: 'user', tenant: 'rt', user: 'ra' });
    await waitFor('re-announced message', () => eb.length === 1);
    assert.deepEqual(eb, [{ kind: 'inbox', tenant: 'rt', user: 'ra', message: m2 }]);
    // Users without messages announce nothing; rooms never do.
    await b.subscribe({ kind: 'user', tenant: 'rt', user: 'empty' });
    await b.subscribe({ kind: 'room', tenant: 'rt', room: 'ra' });
    const m4 = await a.append('rt', 'ra', msg('m4'), R);
    await waitFor('live message', () => eb.length === 2);
    assert.deepEqual(eb[1], { kind: 'inbox', tenant: 'rt', user: 'ra', message: m4 });
  });

  test('subscribe calls within a tick become one SUBSCRIBE; unsubscribe stops delivery', async () => {
    const eb: BusEvent[] = [];
    const a = await engine('batch-a');
    const b = await engine('batch-b', eb);
    const sub = b['sub'] as Redis;
    let calls = 0;
    const orig = sub.subscribe.bind(sub);
    sub.subscribe = ((...args: Parameters<Redis['subscribe']>) => {
      calls++;
      return orig(...args);
    }) as Redis['subscribe'];
    const users = Array.from({ length: 300 }, (_, i): Route => ({ kind: 'user', tenant: 'bt', user: `u${i}` }));
    for (const r of users) void b.subscribe(r);
    // Subscribed and unsubscribed in the same tick: never sent.
    void b.subscribe({ kind: 'room', tenant: 'bt', room: 'flicker' });
    b.unsubscribe({ kind: 'room', tenant: 'bt', room: 'flicker' });
    await b.subscriptionsFlushed();
    assert.equal(calls, 1);
    const counts = (await admin.pubsub('NUMSUB', b.keys.userChannel('bt', 'u0'), b.keys.userChannel('bt', 'u299'), b.keys.roomChannel('bt', 'flicker'))) as (string | number)[];
    assert.deepEqual(counts.filter((_, i) => i % 2 === 1).map(Number), [1, 1, 0]);

    b.unsubscribe(users[0]!);
    await b.subscriptionsFlushed();
    await a.publish({ kind: 'deliver', route: users[0]!, frame: '"dropped"' });
    await a.publish({ kind: 'deliver', route: users[1]!, frame: '"kept"' });
    await waitFor('kept', () => eb.length >= 1);
    assert.deepEqual(eb.map((e) => (e.kind === 'deliver' ? e.frame : '')), ['"kept"']);
  });
});
