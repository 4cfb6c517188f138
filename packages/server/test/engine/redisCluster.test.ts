/**
 * The Redis engine and ingest on a real Redis Cluster: three masters started
 * here (redis-server --cluster-enabled yes), joined with redis-cli --cluster
 * create. Checks that every script stays within one slot, that sharded
 * pub/sub (SSUBSCRIBE/SPUBLISH, batched per slot) carries every event kind,
 * and that ingest works across slots.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { Cluster } from 'ioredis';
import { RedisEngine } from '../../src/engine/redis/redisEngine.js';
import { clusterSlot } from '../../src/engine/redis/slot.js';
import { StreamIngest } from '../../src/ingest/streamIngest.js';
import type { BusEvent, LocalView, Retention, Route } from '../../src/engine/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { RedisServer, waitFor } from '../helpers/redisServer.js';

const run = promisify(execFile);
const logger = createLogger(process.env.HERALD_LOG_LEVEL ?? 'silent');
const R: Retention = { maxMessages: 5, maxAgeMs: 86_400_000 };
const local: LocalView = { userDevices: () => [], roomMembers: () => [], count: () => 0 };
const servers: RedisServer[] = [];
const closers: (() => Promise<unknown>)[] = [];
let url: string;
let admin: Cluster;

before(async () => {
  for (let i = 0; i < 3; i++) servers.push(await RedisServer.start({ cluster: true }));
  await run('redis-cli', ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes']);
  for (const s of servers) {
    await waitFor(`cluster state ok on ${s.port}`, async () => (await run('redis-cli', ['-p', String(s.port), 'cluster', 'info'])).stdout.includes('cluster_state:ok'), 20_000, 100);
  }
  url = `redis+cluster://${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`;
  admin = new Cluster(servers.map((s) => ({ host: '127.0.0.1', port: s.port })));
  await waitFor('admin cluster client', async () => (await admin.ping()) === 'PONG');
});

after(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  admin?.disconnect();
  for (const s of servers) await s.stop();
});

async function engine(nodeId: string, events: BusEvent[]): Promise<RedisEngine> {
  const e = new RedisEngine({ url, keyPrefix: 'herald:', nodeId, logger });
  closers.push(() => e.close());
  await e.start((ev) => events.push(ev), local);
  return e;
}

test('our slot function agrees with CLUSTER KEYSLOT', async () => {
  for (const key of ['foo', 'herald:u{t:alice}:inbox', 'x{}y', '{a}{b}', 'ünïcödé', 'herald:all:ch']) {
    assert.equal(clusterSlot(key), Number(await admin.cluster('KEYSLOT', key)), key);
  }
});

test('inbox, cursors, idempotency and presence for users spread over all masters', async () => {
  const e = await engine('cl-a', []);
  const users = Array.from({ length: 30 }, (_, i) => `user-${i}`);
  const slots = new Set(users.map((u) => clusterSlot(e.keys.userInbox('t', u))));
  assert.ok(slots.size > 10, 'users land in many slots');
  for (const u of users) for (let i = 0; i < 7; i++) await e.append('t', u, { id: `${u}-${i}`, ts: Date.now(), data: String(i) }, R);
  for (const u of users) {
    const r = await e.readAfter('t', u, 0, 100, R);
    assert.deepEqual(r.messages.map((m) => m.seq), [3, 4, 5, 6, 7]);
    assert.equal(r.floor, 2);
    await e.setCursor('t', u, 'd', 6);
    await e.setCursor('t', u, 'd', 4);
    assert.equal(await e.getCursor('t', u, 'd'), 6);
  }
  assert.deepEqual(await e.idempotencyClaim('k', 10_000), { state: 'new' });
  await e.idempotencyComplete('k', 'r', 10_000);
  assert.deepEqual(await e.idempotencyClaim('k', 10_000), { state: 'done', result: 'r' });
  await e.presenceAdd({ tenant: 't', user: 'user-1', device: 'd', platform: 'web', node: 'cl-a', conn: 'c', since: 1 });
  await e.roomJoin('t', 'room', { user: 'user-1', device: 'd', node: 'cl-a' });
  assert.equal(await e.onlineCount({ kind: 'user', tenant: 't', user: 'user-1' }), 1);
  assert.equal(await e.onlineCount({ kind: 'room', tenant: 't', room: 'room' }), 1);
});

test('connectStart on Cluster: the cursor, the stream begun, the presence record and the replace event, as separate commands', async () => {
  const seen: BusEvent[] = [];
  const e = await engine('cl-s', []);
  const other = await engine('cl-o', seen);
  await other.subscribe({ kind: 'user', tenant: 't', user: 'cs-u' });
  for (let i = 0; i < 3; i++) await e.append('t', 'cs-u', { id: `cs-${i}`, ts: Date.now(), data: String(i) }, R);
  const replace = { kind: 'replace', tenant: 't', user: 'cs-u', device: 'd', conn: 'cl-s.1', at: 1 } as const;
  let read: Promise<{ messages: { seq: number }[] }> | undefined;
  const first = await e.connectStart(
    { presence: { tenant: 't', user: 'cs-u', device: 'd', platform: 'web', node: 'cl-s', conn: 'cl-s.1', since: 1 }, announce: true, publish: replace, cursor: 1, replay: { after: 1, limit: 100, retention: R } },
    { begin: () => void (read = e.readAfter('t', 'cs-u', 1, 100, R)) },
  );
  assert.equal(first, true);
  assert.deepEqual((await read!).messages.map((m) => m.seq), [2, 3]);
  assert.equal(await e.getCursor('t', 'cs-u', 'd'), 1);
  assert.deepEqual((await other.userPresence('t', 'cs-u')).map((d) => d.conn), ['cl-s.1']);
  await waitFor('replace event on the other node', () => seen.some((x) => x.kind === 'replace'), 10_000);
});

test('sharded pub/sub: every route kind and the inbox event published by the append script', async () => {
  const eb: BusEvent[] = [];
  const ea: BusEvent[] = [];
  const a = await engine('ps-a', ea);
  const b = await engine('ps-b', eb);
  const routes: Route[] = [
    ...Array.from({ length: 20 }, (_, i): Route => ({ kind: 'user', tenant: 't', user: `u${i}` })),
    { kind: 'room', tenant: 't', room: 'r' },
    { kind: 'tenant', tenant: 't' },
    { kind: 'all' },
  ];
  await Promise.all(routes.map((r) => b.subscribe(r)));
  await Promise.all(routes.map((r) => a.subscribe(r)));
  for (const [i, route] of routes.entries()) await a.publish({ kind: 'deliver', route, frame: String(i) });
  const stored = await a.append('t', 'u3', { id: 'x', ts: Date.now(), data: '"hi"' }, R);
  const delivers = (l: BusEvent[]) => l.filter((e) => e.kind === 'deliver');
  await waitFor('every event at b', () => delivers(eb).length === routes.length && eb.some((e) => e.kind === 'inbox'), 15_000);
  const frames = delivers(eb).map((e) => (e.kind === 'deliver' ? Number(e.frame) : -1));
  assert.deepEqual(frames.sort((x, y) => x - y), routes.map((_, i) => i));
  // Inbox events: the script's SPUBLISH, possibly again as a re-announce after ioredis re-subscribed.
  for (const e of eb.filter((x) => x.kind === 'inbox')) assert.deepEqual(e, { kind: 'inbox', tenant: 't', user: 'u3', message: stored });
  // a published every deliver event itself: none may come back to it.
  await b.publish({ kind: 'deliver', route: { kind: 'all' }, frame: '"marker"' });
  await waitFor('marker at a', () => delivers(ea).length === 1);
  assert.deepEqual(delivers(ea), [{ kind: 'deliver', route: { kind: 'all' }, frame: '"marker"' }]);
});

test('ingest on Cluster: two consumers, every entry exactly once, poison to the dead-letter stream', async () => {
  const seen: number[] = [];
  const handler = async (body: unknown) => {
    const n = (body as { n: number }).n;
    if (n < 0) throw Object.assign(new Error('bad'), { status: 400 });
    seen.push(n);
  };
  const mk = (consumer: string) => new StreamIngest({ url, keyPrefix: 'herald:', consumer, handler, logger, blockMs: 200 });
  const i1 = mk('n1');
  const i2 = mk('n2');
  closers.push(() => i1.stop(), () => i2.stop());
  await i1.start();
  await i2.start();
  const N = 200;
  for (let n = 0; n < N; n++) await admin.xadd('herald:ingest', '*', 'payload', JSON.stringify({ n }));
  await admin.xadd('herald:ingest', '*', 'payload', JSON.stringify({ n: -1 }));
  await waitFor('all handled', () => seen.length === N, 20_000);
  await waitFor('one dead letter', async () => (await admin.xlen('herald:ingest:dead')) === 1);
  assert.deepEqual([...seen].sort((x, y) => x - y), Array.from({ length: N }, (_, i) => i));
});
