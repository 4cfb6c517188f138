/**
 * Issue 23, found by the `webhooks` stress scenario: presence events lost in a crash, and the
 * crash-detection bound without reaping time.
 *
 * 1. A node killed (-9) after its presence change reached Redis but before it heard back: the
 *    `online`/`offline` the change decided must be in the outbox — the presence script writes it.
 *    The node's Redis connections run through a fault proxy that holds Redis's replies, so the
 *    kill lands exactly in that window (before the fix the event was written only after the reply).
 * 2. A dead node with many connections is reaped a chunk at a time, each chunk reported (and its
 *    users' `offline` written) as soon as it is removed, not after the last connection.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { FaultProxy } from '../../../stress/src/faultProxy.js';
import { Rng } from '../../../stress/src/rng.js';
import { RedisKeys } from '../../src/engine/redis/keys.js';
import { REAP_CHUNK, reapDeadNodes } from '../../src/engine/redis/nodeReaper.js';
import { CONN_REMOVE, PRESENCE_ADD_INDEXED, PRESENCE_REMOVE_INDEXED } from '../../src/engine/redis/presenceScripts.js';
import { CONNECT_START } from '../../src/engine/redis/connectStart.js';
import type { LostConnection } from '../../src/engine/types.js';
import { EventIds, partitionOf } from '../../src/webhooks/event.js';
import { presenceEventSink } from '../../src/webhooks/presenceEvents.js';
import type { HeraldNode } from '../../src/node.js';
import { proxiedConnOf } from '../helpers/proxiedClient.js';
import { connect, spawnRedisNode, type TestClient } from '../helpers/harness.js';
import { freePort, useSharedRedis, waitFor } from '../helpers/redisServer.js';

const redis = useSharedRedis();
const children: ChildProcess[] = [];
const proxies: FaultProxy[] = [];
const clients: TestClient[] = [];
const PARTITIONS = 16;

after(async () => {
  for (const c of clients) c.close();
  for (const ch of children) ch.kill('SIGKILL');
  await Promise.all(proxies.map((p) => p.close()));
});

/** A child node whose Redis connections all pass through a fault proxy. */
async function doomedNode(nodeId: string): Promise<{ url: string; proxy: FaultProxy; child: ChildProcess; exited: Promise<unknown> }> {
  const u = new URL(redis.url);
  const proxy = new FaultProxy('redis', [{ host: u.hostname, port: Number(u.port || 6379) }], new Rng(23));
  proxies.push(proxy);
  await proxy.listen();
  // Scripts cached in Redis, as in a running cluster: an EVALSHA's NOSCRIPT answer would be held by
  // the proxy too, and the script's fallback EVAL never sent.
  await Promise.all([PRESENCE_ADD_INDEXED, PRESENCE_REMOVE_INDEXED, CONNECT_START].map((lua) => redis.admin.script('LOAD', lua)));
  const port = await freePort();
  // The receiver's port answers nothing: events stay in the outbox streams, where the test reads them.
  const child = spawnRedisNode({ redisUrl: `redis://127.0.0.1:${proxy.port}`, prefix: redis.prefix, port, nodeId, env: { HERALD_WEBHOOK_URL: `http://127.0.0.1:${await freePort()}/`, HERALD_WEBHOOK_SECRET: 'webhook-secret-0123456789' } });
  children.push(child);
  const exited = new Promise((r) => child.once('exit', r));
  const url = `http://127.0.0.1:${port}`;
  await waitFor('doomed node up', async () => (await fetch(url + '/healthz').catch(() => undefined))?.ok, 20_000);
  return { url, proxy, child, exited };
}

/** The outbox events of a user, as stored: [type, event]. */
async function stored(user: string): Promise<[string, Record<string, unknown>][]> {
  const key = `${redis.prefix}webhooks:{${partitionOf('default', user, PARTITIONS)}}:outbox`;
  const entries = await redis.admin.xrange(key, '-', '+');
  const out: [string, Record<string, unknown>][] = [];
  for (const [, f] of entries) {
    const e = JSON.parse(f[f.indexOf('e') + 1]!) as Record<string, unknown>;
    if (e.user === user) out.push([f[f.indexOf('t') + 1]!, e]);
  }
  return out;
}

/**
 * A connect's presence record is written by CONNECT_START on a single Redis (issue 20: with its
 * cursor and first replay read), run by EVALSHA of its SHA-1 once the connection sent it (loaded above too).
 */
const PRESENCE_ADD_SHA = createHash('sha1').update(CONNECT_START).digest('hex');

const conns = (user: string) => redis.admin.hlen(new RedisKeys(redis.prefix).userConns('default', user));

describe('presence events commit with the presence change (kill -9 before the node hears back)', () => {
  test('online: the user is online in Redis, the node killed before the reply: online is in the outbox', { timeout: 60_000 }, async (t) => {
    const t0 = Date.now();
    const n = await doomedNode('doomed-on');
    t.diagnostic(`up after ${Date.now() - t0} ms`);
    const user = 'pc-online';
    // A first user through the node unhindered: its command connection then knows the presence
    // script is loaded (ioredis checks that with a round trip before a script's first use).
    const warm = await connect({ url: n.url } as HeraldNode, 'pc-warm', { device: 'w1' });
    clients.push(warm);
    await waitFor('warm-up online stored', async () => (await stored('pc-warm')).some(([t]) => t === 'online'), 10_000);
    // Hold the subscription's confirmation: the node then waits (SUBSCRIBE_WAIT_MS) before its presence add.
    n.proxy.throttle(await proxiedConnOf(redis.admin, n.proxy, 'herald:doomed-on:sub'), true);
    const cmd = await proxiedConnOf(redis.admin, n.proxy, 'herald:doomed-on:cmd');
    // From the presence script on, hold every reply: the script reaches Redis, its answer does not
    // reach the node (set when the proxy sees the script's EVALSHA, so no timing decides it).
    n.proxy.throttleWhenSent(cmd, (chunk) => chunk.includes(PRESENCE_ADD_SHA));
    clients.push(await connect({ url: n.url } as HeraldNode, user, { device: 'd1' }));
    t.diagnostic(`welcome after ${Date.now() - t0} ms`);
    await waitFor('presence add reached Redis', async () => (await conns(user)) === 1, 10_000);
    assert.ok(cmd.throttled, 'the presence script went out and its reply is held (the window this test is about)');
    t.diagnostic(`presence after ${Date.now() - t0} ms`);
    n.child.kill('SIGKILL');
    await n.exited;
    const types = (await stored(user)).map(([t]) => t);
    assert.ok(types.includes('online'), `online stored with the presence change (stored: ${types.join(', ') || 'nothing'})`);
    const online = (await stored(user)).find(([t]) => t === 'online')![1];
    assert.deepEqual([online.node, online.device, online.type], ['doomed-on', 'd1', 'online']);
  });

  test('offline: the last connection removed in Redis, the node killed before the reply: offline is in the outbox', { timeout: 60_000 }, async () => {
    const n = await doomedNode('doomed-off');
    const user = 'pc-offline';
    const c = await connect({ url: n.url } as HeraldNode, user, { device: 'd1' });
    clients.push(c);
    await waitFor('online stored', async () => (await stored(user)).some(([t]) => t === 'online'), 10_000);
    n.proxy.throttle(await proxiedConnOf(redis.admin, n.proxy, 'herald:doomed-off:cmd'), true);
    c.close();
    await waitFor('presence remove reached Redis', async () => (await conns(user)) === 0, 10_000);
    n.child.kill('SIGKILL');
    await n.exited;
    const types = (await stored(user)).map(([t]) => t);
    assert.deepEqual(types.filter((t) => t === 'online' || t === 'offline'), ['online', 'offline'], `stored: ${types.join(', ')}`);
    const offline = (await stored(user)).find(([t]) => t === 'offline')![1];
    assert.deepEqual([offline.reason, offline.conn !== undefined], ['disconnected', true]);
  });
});

describe('reaping a dead node with many connections', () => {
  test('connections are removed a chunk at a time and each chunk is reported as soon as it is removed, offline written with the removal', async () => {
    const keys = new RedisKeys(redis.prefix);
    const client = redis.admin.duplicate();
    client.defineCommand('heraldConnRemove', { numberOfKeys: 1, lua: CONN_REMOVE });
    client.defineCommand('heraldConnRemoveEv', { numberOfKeys: 2, lua: CONN_REMOVE });
    const N = 2 * REAP_CHUNK + 137;
    const [node, boot] = ['dead-many', 'b1'];
    // N connections of N/2 users (two each, the second of each user in a later chunk), on a dead incarnation.
    const users = N / 2;
    const index: Record<string, string> = {};
    const conn = (i: number) => `c${String(i).padStart(5, '0')}`;
    const userOf = (i: number) => `reap${Math.floor(i / 2) % Math.ceil(users)}`;
    for (let i = 0; i < N; i++) {
      const user = userOf(i);
      index[conn(i)] = JSON.stringify({ tenant: 'default', user, device: `d${i}`, platform: 'web', since: 1 });
      await client.hset(keys.userConns('default', user), conn(i), `${node}|${boot}`);
    }
    await client.hset(keys.nodeConns(node, boot), index);
    await client.sadd(keys.nodeBoots(), `${boot}:${node}`);
    const sink = presenceEventSink({ node: 'reaper', ids: new EventIds('reaper'), types: new Set(), partitions: PARTITIONS, stream: (p) => `${redis.prefix}webhooks:{${p}}:outbox`, maxLen: 100_000 });
    const chunks: { size: number; leftInRedis: number }[] = [];
    const lost: LostConnection[] = [];
    // Only this test's incarnation: the shared Redis has other tests' keys under other prefixes.
    const reaped = await reapDeadNodes(client, keys, { node: 'reaper', boot: 'r1' }, 30_000, (chunk) => {
      lost.push(...chunk);
      chunks.push({ size: chunk.length, leftInRedis: -1 });
      // What is still in Redis when the chunk is reported: the later chunks' connections.
      void Promise.all(Object.keys(index).map((c, i) => client.hexists(keys.userConns('default', userOf(i)), c))).then((xs) => (chunks[chunks.length - 1]!.leftInRedis = xs.filter((x) => x === 1).length));
    }, sink);
    assert.equal(reaped, N);
    assert.deepEqual(chunks.map((c) => c.size), [REAP_CHUNK, REAP_CHUNK, 137], 'one report per chunk, in bounded chunks');
    await waitFor('left-in-Redis read', () => chunks.every((c) => c.leftInRedis >= 0));
    // Reported before the rest was removed: the first report saw the later chunks' connections still there.
    assert.ok(chunks[0]!.leftInRedis > 0, `the first chunk was reported before the last one was removed (${chunks[0]!.leftInRedis} left)`);
    assert.equal(new Set(lost.map((l) => l.conn)).size, N);
    const last = lost.filter((l) => l.last);
    assert.equal(last.length, Math.ceil(users), 'one last connection per user');
    // Each user's offline ("node lost") was written by the removal that emptied the user's set.
    for (const l of last.slice(0, 20)) {
      const offline = (await stored(l.user)).filter(([t]) => t === 'offline');
      assert.equal(offline.length, 1, `offline of ${l.user}`);
      assert.deepEqual([offline[0]![1].reason, offline[0]![1].node, offline[0]![1].conn], ['node lost', 'reaper', l.conn]);
    }
    assert.equal(await client.exists(keys.nodeConns(node, boot)), 0, 'the index is gone');
    client.disconnect();
  });
});
