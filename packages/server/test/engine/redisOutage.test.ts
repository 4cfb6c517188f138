/**
 * RedisEngine when Redis or a node fails. Each test runs its own redis-server
 * (it gets killed), or a child process (it gets kill -9'd).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { RedisEngine } from '../../src/engine/redis/redisEngine.js';
import type { BusEvent, InboxMessage, LocalView, Retention } from '../../src/engine/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { deleteKeys, RedisServer, sharedRedis, testPrefix, waitFor } from '../helpers/redisServer.js';

const logger = createLogger(process.env.HERALD_LOG_LEVEL ?? 'silent');
const R: Retention = { maxMessages: 100_000, maxAgeMs: 86_400_000 };
const local: LocalView = { userDevices: () => [], roomMembers: () => [], count: () => 0 };
const cleanups: (() => Promise<unknown>)[] = [];

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function engineOn(url: string, nodeId: string, events: BusEvent[] = [], prefix = 'herald:'): Promise<RedisEngine> {
  const e = new RedisEngine({ url, keyPrefix: prefix, nodeId, logger, presence: { heartbeatMs: 100, nodeTtlMs: 500 } });
  cleanups.push(() => e.close());
  await e.start((ev) => events.push(ev), local);
  return e;
}

test('Redis crash with AOF appendfsync always: nothing append() acknowledged is lost, seqs never repeat', async () => {
  const server = await RedisServer.start({ appendfsync: 'always' });
  cleanups.push(() => server.stop());
  const e = await engineOn(server.url, 'aof-a');
  const acked: InboxMessage[] = [];
  let rejected = 0;
  let stop = false;
  let n = 0;
  // Four concurrent writers, so that appends are in flight when Redis dies.
  const writers = Array.from({ length: 4 }, async () => {
    while (!stop) {
      try {
        acked.push(await e.append('t', 'u', { id: `m${n++}`, ts: Date.now(), data: '{}' }, R));
      } catch {
        rejected++;
        // Redis is down: yield instead of spinning on immediate rejections.
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  });
  await waitFor('200 acknowledged appends', () => acked.length >= 200);
  await server.kill();
  await waitFor('engine to report not ready', () => !e.isReady());
  await waitFor('appends to be rejected while Redis is down', () => rejected > 0);
  const ackedBeforeRestart = acked.length;
  await server.spawn();
  await waitFor('engine ready again', () => e.isReady(), 15_000);
  await waitFor('appends to succeed again', () => acked.length > ackedBeforeRestart + 20);
  stop = true;
  await Promise.all(writers);

  const r = await e.readAfter('t', 'u', 0, 1_000_000, R);
  const stored = new Map(r.messages.map((m) => [m.seq, m.id]));
  for (const m of acked) assert.equal(stored.get(m.seq), m.id, `acknowledged seq ${m.seq} (${m.id}) lost or changed`);
  const seqs = acked.map((m) => m.seq);
  assert.equal(new Set(seqs).size, seqs.length, 'a seq was assigned twice');
  assert.ok(rejected > 0);
});

test('outage: isReady turns false, append rejects, and after Redis returns the subscriber is resubscribed', async () => {
  const server = await RedisServer.start();
  cleanups.push(() => server.stop());
  const eb: BusEvent[] = [];
  const a = await engineOn(server.url, 'out-a');
  const b = await engineOn(server.url, 'out-b', eb);
  let resyncs = 0;
  b.onResync(() => resyncs++);
  const route = { kind: 'user' as const, tenant: 't', user: 'u' };
  void b.subscribe(route);
  await b.subscriptionsFlushed();
  assert.ok(a.isReady() && b.isReady());

  await server.kill();
  await waitFor('both engines not ready', () => !a.isReady() && !b.isReady());
  await assert.rejects(a.append('t', 'u', { id: 'lost', ts: Date.now(), data: '1' }, R));
  await assert.rejects(a.publish({ kind: 'deliver', route, frame: '"x"' }));
  const errors = (await a.stats()).errors!;
  assert.equal(errors.append, 1);
  assert.equal(errors.publish, 1);
  assert.ok((errors.connection ?? 0) >= 1);
  // Interest that changes during the outage is applied after it.
  void b.subscribe({ kind: 'room', tenant: 't', room: 'during' });

  await server.spawn();
  await waitFor('both engines ready', () => a.isReady() && b.isReady(), 15_000);
  assert.equal(resyncs, 1);
  await a.publish({ kind: 'deliver', route, frame: '"after"' });
  await a.publish({ kind: 'deliver', route: { kind: 'room', tenant: 't', room: 'during' }, frame: '"room"' });
  await waitFor('events after the outage', () => eb.length === 2);
  assert.deepEqual(eb.map((e) => (e.kind === 'deliver' ? e.frame : e.kind)), ['"after"', '"room"']);
});

test('start() fails with a clear error when Redis is unreachable', async () => {
  const server = await RedisServer.start();
  const url = server.url;
  await server.stop();
  const e = new RedisEngine({ url, keyPrefix: 'herald:', nodeId: 'nope', logger, connectTimeoutMs: 300 });
  await assert.rejects(e.start(() => {}, local), /redis not ready within 300 ms/);
  assert.equal(e.isReady(), false);
});

test('a node killed with SIGKILL: its devices, room members and counts vanish within the node TTL', async () => {
  const { url, client: admin } = await sharedRedis();
  const prefix = testPrefix();
  cleanups.push(async () => {
    await deleteKeys(admin, prefix);
    admin.disconnect();
  });
  const observer = await engineOn(url, 'observer', [], prefix);
  const engineModule = fileURLToPath(new URL('../../src/engine/redis/redisEngine.ts', import.meta.url));
  const loggerModule = fileURLToPath(new URL('../../src/observability/logger.ts', import.meta.url));
  const script = `
    import { RedisEngine } from ${JSON.stringify(engineModule)};
    import { createLogger } from ${JSON.stringify(loggerModule)};
    const e = new RedisEngine({ url: ${JSON.stringify(url)}, keyPrefix: ${JSON.stringify(prefix)}, nodeId: 'doomed', logger: createLogger('silent'),
      presence: { heartbeatMs: 100, nodeTtlMs: 500 } });
    await e.start(() => {}, { userDevices: () => [], roomMembers: () => [], count: () => 1 });
    await e.presenceAdd({ tenant: 't', user: 'u', device: 'd1', platform: 'pc', node: 'doomed', conn: 'c1', since: Date.now() });
    await e.roomJoin('t', 'room', { user: 'u', device: 'd1', node: 'doomed' });
    await e.refreshPresence();
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(async () => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d) => (out += d.toString()));
  await waitFor('child engine ready', () => out.includes('ready'), 20_000);

  assert.deepEqual((await observer.userPresence('t', 'u')).map((d) => [d.device, d.node]), [['d1', 'doomed']]);
  assert.equal(await observer.onlineCount({ kind: 'room', tenant: 't', room: 'room' }), 1);
  assert.equal(await observer.onlineCount({ kind: 'tenant', tenant: 't' }), 1);

  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  await waitFor('dead node presence to vanish', async () => (await observer.userPresence('t', 'u')).length === 0, 5_000);
  assert.equal(await observer.onlineCount({ kind: 'room', tenant: 't', room: 'room' }), 0);
  assert.equal(await observer.onlineCount({ kind: 'tenant', tenant: 't' }), 0);
  // Readers delete the dead records too.
  await waitFor('dead records deleted', async () => (await admin.hlen(observer.keys.userPresence('t', 'u'))) === 0, 5_000);
});

test('after Redis restarts empty, each node writes its presence records again', async () => {
  const server = await RedisServer.start();
  cleanups.push(() => server.stop());
  const a = await engineOn(server.url, 'restore-a');
  const observer = await engineOn(server.url, 'restore-obs');
  await a.presenceAdd({ tenant: 't', user: 'u', device: 'd1', platform: 'web', node: 'restore-a', conn: 'c1', since: 1 });
  await a.roomJoin('t', 'r', { user: 'u', device: 'd1', node: 'restore-a' });
  assert.equal((await observer.userPresence('t', 'u')).length, 1);

  await server.kill();
  await waitFor('not ready', () => !a.isReady());
  await server.spawn(); // no persistence: every key is gone
  await waitFor('ready again', () => a.isReady() && observer.isReady(), 15_000);
  await waitFor('device back in presence', async () => (await observer.userPresence('t', 'u')).length === 1, 10_000);
  assert.deepEqual(await observer.roomPresence('t', 'r'), [{ user: 'u', device: 'd1', node: 'restore-a' }]);
});

test('a subscriber connection cut while Redis stays up: resubscribed, and the newest message re-announced', async () => {
  const server = await RedisServer.start();
  cleanups.push(() => server.stop());
  const eb: BusEvent[] = [];
  const a = await engineOn(server.url, 'cut-a');
  const b = await engineOn(server.url, 'cut-b', eb);
  let resyncs = 0;
  b.onResync(() => resyncs++);
  await b.subscribe({ kind: 'user', tenant: 't', user: 'u' });
  // The new channel's own re-announce (of an empty inbox) goes out in the next check phase, once
  // connects that waited for it could claim it (reannounce.ts): let it pass before appending.
  await new Promise((r) => setImmediate(r));
  const m1 = await a.append('t', 'u', { id: 'm1', ts: Date.now(), data: '1' }, R);
  await waitFor('live event', () => eb.length === 1);

  const { Redis } = await import('ioredis');
  const admin = new Redis(server.port);
  cleanups.push(async () => admin.disconnect());
  const list = String(await admin.client('LIST'));
  const id = /id=(\d+) [^\n]*name=herald:cut-b:sub /.exec(list)?.[1];
  assert.ok(id, 'the subscriber connection is named');
  await admin.client('KILL', 'ID', id);

  // Whatever was published while it was away is gone; the re-announce tells b about the newest message.
  await waitFor('resubscribed and re-announced', () => resyncs === 1 && eb.length === 2, 10_000);
  assert.deepEqual(eb[1], { kind: 'inbox', tenant: 't', user: 'u', message: m1 });
  const m2 = await a.append('t', 'u', { id: 'm2', ts: Date.now(), data: '2' }, R);
  await waitFor('live again', () => eb.length === 3);
  assert.deepEqual(eb[2], { kind: 'inbox', tenant: 't', user: 'u', message: m2 });
});
