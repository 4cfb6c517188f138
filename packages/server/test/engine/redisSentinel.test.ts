/**
 * The Redis engine behind Sentinel: a master, a replica and one sentinel
 * started here. The engine finds the master through the sentinel, and after
 * the master is killed and the replica promoted it follows the new master:
 * not ready during the failover, ready again after, appends and pub/sub work.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisEngine } from '../../src/engine/redis/redisEngine.js';
import type { BusEvent, LocalView, Retention } from '../../src/engine/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { RedisSentinel, RedisServer, waitFor } from '../helpers/redisServer.js';

const logger = createLogger(process.env.HERALD_LOG_LEVEL ?? 'silent');
const R: Retention = { maxMessages: 1000, maxAgeMs: 86_400_000 };
const local: LocalView = { userDevices: () => [], roomMembers: () => [], count: () => 0 };
const cleanups: (() => Promise<unknown>)[] = [];

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

test('sentinel: engine finds the master, follows a failover, keeps working', { timeout: 120_000 }, async () => {
  const master = await RedisServer.start({ appendfsync: 'always' });
  cleanups.push(() => master.stop());
  const replica = await RedisServer.start({ appendfsync: 'always' });
  cleanups.push(() => replica.stop());
  const rc = new Redis(replica.port, { lazyConnect: true });
  await rc.connect();
  cleanups.push(async () => rc.disconnect());
  await rc.replicaof('127.0.0.1', String(master.port));
  await waitFor('replica in sync', async () => (await rc.info('replication')).includes('master_link_status:up'), 20_000, 100);
  const sentinel = await RedisSentinel.start(master.port);
  cleanups.push(() => sentinel.stop());
  // The sentinel must have discovered the replica, or it has nothing to promote.
  const sc = new Redis(sentinel.port, { lazyConnect: true });
  await sc.connect();
  cleanups.push(async () => sc.disconnect());
  await waitFor('sentinel knows the replica', async () => ((await sc.call('SENTINEL', 'REPLICAS', 'mymaster')) as unknown[]).length === 1, 30_000, 200);

  const url = `redis+sentinel://127.0.0.1:${sentinel.port}/mymaster`;
  const eb: BusEvent[] = [];
  const a = new RedisEngine({ url, keyPrefix: 'herald:', nodeId: 'sa', logger });
  const b = new RedisEngine({ url, keyPrefix: 'herald:', nodeId: 'sb', logger });
  cleanups.push(() => a.close(), () => b.close());
  await a.start(() => {}, local);
  await b.start((e) => eb.push(e), local);
  await b.subscribe({ kind: 'user', tenant: 't', user: 'u' });
  // The new channel's own re-announce (of an empty inbox) goes out in the next check phase, once
  // connects that waited for it could claim it (reannounce.ts): let it pass before appending.
  await new Promise((r) => setImmediate(r));

  const m1 = await a.append('t', 'u', { id: 'before', ts: Date.now(), data: '1' }, R);
  await waitFor('event via master', () => eb.length === 1);
  // Replication is asynchronous: let the replica catch up so the test checks failover, not lag.
  await waitFor('replica has the message', async () => (await rc.xlen(a.keys.userInbox('t', 'u'))) === 1, 10_000);

  await master.kill();
  await waitFor('engine not ready while the master is gone', () => !a.isReady(), 10_000);
  await waitFor('failover: replica promoted', async () => (await rc.info('replication')).includes('role:master'), 60_000, 200);
  await waitFor('engines ready on the new master', () => a.isReady() && b.isReady(), 60_000, 100);

  const m2 = await a.append('t', 'u', { id: 'after', ts: Date.now(), data: '2' }, R);
  assert.equal(m2.seq, m1.seq + 1, 'seq continues on the promoted replica');
  const r = await b.readAfter('t', 'u', 0, 10, R);
  assert.deepEqual(r.messages.map((m) => m.id), ['before', 'after']);
  await waitFor('event via the new master (resubscribed)', () => eb.some((e) => e.kind === 'inbox' && e.message.id === 'after'), 10_000);
});
