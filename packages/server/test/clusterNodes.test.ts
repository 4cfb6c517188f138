/**
 * Several Herald nodes on one Redis: what is published through one node's
 * HTTP API reaches devices on the others, for every target kind; replacement
 * and API disconnects cross nodes; a node killed with SIGKILL loses nothing —
 * its devices resume on another node.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import type { HeraldNode } from '../src/node.js';
import type { RedisEngine } from '../src/engine/redis/redisEngine.js';
import { API_KEY, SECRET, spawnRedisNode, api, connect, publish, startNode, type Frame, type TestClient } from './helpers/harness.js';
import { deleteKeys, freePort, sharedRedis, testPrefix, waitFor } from './helpers/redisServer.js';

const BIN = fileURLToPath(new URL('../bin/herald.js', import.meta.url));
let redisUrl: string;
let admin: Redis;
const prefix = testPrefix();
const nodes: HeraldNode[] = [];
const clients: TestClient[] = [];
const children: ChildProcess[] = [];
let A: HeraldNode;
let B: HeraldNode;
let C: HeraldNode;

before(async () => {
  ({ url: redisUrl, client: admin } = await sharedRedis());
  for (const nodeId of ['node-a', 'node-b', 'node-c']) nodes.push(await startNode({ engine: 'redis', redisUrl, redisKeyPrefix: prefix, nodeId }));
  [A, B, C] = nodes as [HeraldNode, HeraldNode, HeraldNode];
});

after(async () => {
  for (const c of clients) c.close();
  for (const ch of children) ch.kill('SIGKILL');
  await Promise.all(nodes.map((n) => n.close()));
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

/** Connects and waits until the node's subscriptions reached Redis, so a publish from elsewhere cannot race them. */
async function on(node: HeraldNode, user: string, o: Parameters<typeof connect>[2] = {}): Promise<TestClient> {
  const c = await connect(node, user, o);
  clients.push(c);
  await (node.engine as RedisEngine).subscriptionsFlushed();
  return c;
}

const withData = (k: unknown) => (f: Frame) => f.type === 'message' && (f.data as { k?: unknown } | null)?.k === k;

describe('fan-out across nodes', () => {
  test('every target kind published on node B reaches devices on nodes A and C', async () => {
    const aliceA = await on(A, 'alice', { device: 'd1' });
    const aliceC = await on(C, 'alice', { device: 'd2' });
    const bob = await on(A, 'bob', { device: 'x' });
    const carol = await on(A, 'carol', { device: 'x' });
    const dave = await on(C, 'dave', { device: 'x', tenant: 'other' });
    assert.equal((await carol.request({ type: 'join', room: 'lobby' })).type, 'reply');
    await (A.engine as RedisEngine).subscriptionsFlushed();

    // user: both of alice's devices, on two other nodes; seq assigned once.
    let r = await publish(B, { to: { user: 'alice' }, data: { k: 1 } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.seq, { alice: 1 });
    assert.equal(r.body.online, 2, 'online counts devices on every node');
    for (const c of [aliceA, aliceC]) assert.equal((await c.waitFor(withData(1))).seq, 1);

    // user+device: only d1; d2 skips it (proven by a later marker arriving without it).
    r = await publish(B, { to: { user: 'alice', device: 'd1' }, data: { k: 2 } });
    assert.equal(r.status, 200);
    assert.equal((await aliceA.waitFor(withData(2))).seq, 2);
    await publish(B, { to: { user: 'alice' }, data: { k: 3 } });
    assert.equal((await aliceC.waitFor(withData(3))).seq, 3);
    assert.equal(aliceC.frames.filter(withData(2)).length, 0);

    // users
    r = await publish(B, { to: { users: ['alice', 'bob'] }, data: { k: 4 } });
    assert.deepEqual(r.body.seq, { alice: 4, bob: 1 });
    for (const c of [aliceA, aliceC, bob]) await c.waitFor(withData(4));

    // room
    r = await publish(B, { to: { room: 'lobby' }, data: { k: 5 } });
    assert.equal(r.status, 200);
    assert.equal(r.body.online, 1);
    const roomMsg = await carol.waitFor(withData(5));
    assert.equal(roomMsg.room, 'lobby');
    assert.equal(roomMsg.seq, undefined, 'room messages are ephemeral');

    // tenant: the default tenant, not dave's
    await publish(B, { to: { tenant: 'default' }, data: { k: 6 } });
    for (const c of [aliceA, aliceC, bob, carol]) await c.waitFor(withData(6));
    await publish(B, { to: { tenant: 'other' }, data: { k: 7 } });
    await dave.waitFor(withData(7));
    assert.equal(dave.frames.filter(withData(6)).length, 0);

    // all
    await publish(B, { to: { all: true }, data: { k: 8 } });
    for (const c of [aliceA, aliceC, bob, carol, dave]) await c.waitFor(withData(8));

    // Nothing arrived twice (no echo through Redis back to a node that delivered locally).
    for (const c of [aliceA, aliceC, bob, carol, dave]) {
      const ids = c.messages().map((m) => m.id);
      assert.equal(new Set(ids).size, ids.length, 'duplicate delivery');
    }
  });

  test('presence API on one node lists devices on all nodes', async () => {
    await on(A, 'pat', { device: 'p1', platform: 'pos' });
    await on(C, 'pat', { device: 'p2', platform: 'mobile' });
    const r = await waitFor('both devices listed', async () => {
      const res = await api(B, 'GET', '/api/v1/users/pat/presence');
      const devices = (res.body.devices ?? []) as { device: string; node: string; platform: string }[];
      return devices.length === 2 ? devices : undefined;
    });
    assert.deepEqual(r.map((d) => [d.device, d.node, d.platform]).sort(), [['p1', 'node-a', 'pos'], ['p2', 'node-c', 'mobile']]);
  });
});

describe('session control across nodes', () => {
  test('the same user+device connecting on another node replaces the first connection (4004)', async () => {
    const first = await on(A, 'eve', { device: 'phone' });
    const second = await on(B, 'eve', { device: 'phone' });
    const closed = await first.waitClosed(10_000);
    assert.equal(closed.code, 4004);
    assert.equal(second.closed, undefined);
    // The survivor still receives.
    await publish(C, { to: { user: 'eve' }, data: { k: 'after-replace' } });
    await second.waitFor(withData('after-replace'));
  });

  test('a late replace event of an older connection does not close the newer one (soak, seed 20261201)', async () => {
    // The soak found it: a device's connection on A is cut while A's replace event is still on its
    // way (Redis slow); the device reconnects on B; A's late event reached B and closed the live
    // connection 4004, and the SDK stops on 4004 for good.
    const live = await on(B, 'gina', { device: 'phone' });
    const connectedAt = Date.now();
    await A.engine.publish({ kind: 'replace', tenant: 'default', user: 'gina', device: 'phone', conn: 'gone-1', at: connectedAt - 5000 });
    await publish(C, { to: { user: 'gina' }, data: { k: 'after-late-replace' } });
    await live.waitFor(withData('after-late-replace'));
    assert.equal(live.closed, undefined);
    // A replace of a newer connection still closes it.
    await A.engine.publish({ kind: 'replace', tenant: 'default', user: 'gina', device: 'phone', conn: 'newer-1', at: Date.now() + 1000 });
    assert.equal((await live.waitClosed(10_000)).code, 4004);
  });

  test('an API disconnect on node B closes the device on node A (4011)', async () => {
    const frank = await on(A, 'frank', { device: 'pc' });
    const keep = await on(A, 'frank', { device: 'tablet' });
    const r = await api(B, 'POST', '/api/v1/disconnect', { user: 'frank', device: 'pc', reason: 'admin' });
    assert.ok(r.status >= 200 && r.status < 300, `disconnect answered ${r.status}`);
    assert.equal((await frank.waitClosed(10_000)).code, 4011);
    const all = await api(C, 'POST', '/api/v1/disconnect', { user: 'frank' });
    assert.ok(all.status >= 200 && all.status < 300);
    assert.equal((await keep.waitClosed(10_000)).code, 4011);
  });
});

describe('node crash', () => {
  test('kill -9 of a node mid-stream: its device resumes on another node with nothing lost', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const child = spawnRedisNode({ redisUrl: redisUrl, prefix: prefix, port, nodeId: 'doomed' });
    children.push(child);
    const K = { url: `http://127.0.0.1:${port}` } as HeraldNode;
    await waitFor('child node ready', async () => (await fetch(`${K.url}/readyz`).catch(() => undefined))?.status === 200, 30_000);

    const first = await connect(K, 'grace', { device: 'g1' });
    clients.push(first);
    const idle = await connect(K, 'grace', { device: 'g2' });
    clients.push(idle);
    await waitFor('devices on the doomed node visible cluster-wide', async () => {
      const res = await api(A, 'GET', '/api/v1/users/grace/presence');
      return ((res.body.devices ?? []) as unknown[]).length === 2;
    });

    const N = 120;
    const published: number[] = [];
    let killed = false;
    const exited = new Promise((r) => child.once('exit', r));
    // Published through node B while the device's node dies under it.
    for (let i = 1; i <= N; i++) {
      const r = await publish(B, { to: { user: 'grace', device: 'g1' }, data: { k: i } });
      assert.equal(r.status, 200, `publish ${i} answered ${r.status}`);
      published.push((r.body.seq as Record<string, number>).grace!);
      if (!killed && first.seqs().length >= 30) {
        child.kill('SIGKILL');
        killed = true;
      }
    }
    assert.ok(killed, 'the node died mid-stream');
    await exited;
    await first.waitClosed(10_000);

    // Every message the device processed before the crash, in order and without gaps.
    const before = first.seqs();
    assert.deepEqual(before, Array.from({ length: before.length }, (_, i) => published[i]));
    const lastSeq = before.at(-1) ?? 0;

    const resumed = await connect(A, 'grace', { device: 'g1', lastSeq });
    clients.push(resumed);
    const welcome = resumed.frames.find((f) => f.type === 'welcome')!;
    assert.equal(welcome.recovered, true);
    const rest = published.filter((s) => s > lastSeq);
    await resumed.waitForCount((f) => f.type === 'message', rest.length, 20_000, 'replayed messages');
    assert.deepEqual(resumed.seqs(), rest, 'the rest, once each, in order');
    assert.deepEqual(
      resumed.messages().map((m) => (m.data as { k: number }).k),
      rest.map((s) => published.indexOf(s) + 1),
    );

    // The dead node's other device drops out of presence once its heartbeat key expires.
    await waitFor(
      'dead node devices to leave presence',
      async () => {
        const res = await api(A, 'GET', '/api/v1/users/grace/presence');
        const devices = (res.body.devices ?? []) as { device: string; node: string }[];
        return devices.length === 1 && devices[0]!.device === 'g1' && devices[0]!.node === 'node-a';
      },
      30_000,
      200,
    );
  });
});

describe('ingest through the nodes', () => {
  test('an entry added to the stream is published once and reaches a device on any node; a bad one is dead-lettered', async () => {
    const dev = await on(C, 'ivan', { device: 'd' });
    // Every node consumes `<prefix>ingest` in group `herald` (ingestEnabled defaults to true).
    await admin.xadd(`${prefix}ingest`, '*', 'payload', JSON.stringify({ to: { user: 'ivan' }, data: { k: 'from-queue' } }));
    await admin.xadd(`${prefix}ingest`, '*', 'payload', JSON.stringify({ to: { nobody: true }, data: 1 }));
    const m = await dev.waitFor(withData('from-queue'), 10_000);
    assert.equal(m.seq, 1);
    const deadStream = `${prefix}ingest:dead`;
    await waitFor('dead letter', async () => (await admin.xlen(deadStream)) >= 1, 10_000);
    const entries = (await admin.xrange(deadStream, '-', '+')) as [string, string[]][];
    assert.equal(entries.length, 1, 'dead-lettered once');
    const fields = entries[0]![1];
    const dead = Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]]));
    assert.match(dead.reason!, /^rejected \(400\)/);
    assert.equal(dead.payload, JSON.stringify({ to: { nobody: true }, data: 1 }));
    assert.ok(['node-a', 'node-b', 'node-c'].includes(dead.consumer!));
    // Exactly once: a marker published after both entries were handled arrives after a single copy.
    await waitFor('both entries acked', async () => Number(((await admin.xpending(`${prefix}ingest`, 'herald')) as [number])[0]) === 0);
    await publish(A, { to: { user: 'ivan' }, data: { k: 'marker' } });
    await dev.waitFor(withData('marker'));
    assert.equal(dev.frames.filter(withData('from-queue')).length, 1);
  });
});

describe('herald serve --workers', () => {
  test('two worker processes on one port: devices on both receive; SIGTERM closes them 1001', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const primary = spawn(process.execPath, [BIN, 'serve', '--workers', '2'], {
      env: {
        ...process.env,
        HERALD_ENGINE: 'redis',
        HERALD_REDIS_URL: redisUrl,
        HERALD_REDIS_KEY_PREFIX: prefix,
        HERALD_PORT: String(port),
        HERALD_HOST: '127.0.0.1',
        HERALD_JWT_SECRET: SECRET,
        HERALD_API_KEY: API_KEY,
        HERALD_NODE_ID: 'wk',
        HERALD_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(primary);
    const exited = new Promise<number | null>((r) => primary.once('exit', (code) => r(code)));
    const W = { url: `http://127.0.0.1:${port}` } as HeraldNode;
    await waitFor('workers ready', async () => (await fetch(`${W.url}/readyz`).catch(() => undefined))?.status === 200, 30_000);

    // Round-robin: connect until one device sits on each worker (the welcome names the node).
    // The second worker may still be starting (readyz answered from the first): bounded by time, not tries.
    const byNode = new Map<string, TestClient>();
    const deadline = Date.now() + 30_000;
    for (let i = 0; byNode.size < 2 && Date.now() < deadline; i++) {
      const c = await connect(W, 'wendy', { device: `d${i}` });
      clients.push(c);
      const node = String(c.frames.find((f) => f.type === 'welcome')!.node);
      if (byNode.has(node)) {
        c.close();
        await c.waitClosed();
      } else byNode.set(node, c);
    }
    assert.deepEqual([...byNode.keys()].sort(), ['wk-w0', 'wk-w1']);
    // Let each worker's subscriptions reach Redis: any publish is stored, and a pull on the next one fills gaps,
    // but this test is about live fan-out between workers.
    await waitFor('presence of both', async () => {
      const res = await api(W, 'GET', '/api/v1/users/wendy/presence');
      return ((res.body.devices ?? []) as unknown[]).length >= 2;
    });

    for (let k = 0; k < 4; k++) {
      const r = await publish(W, { to: { user: 'wendy' }, data: { k: `w${k}` } });
      assert.equal(r.status, 200);
    }
    await publish(W, { to: { all: true }, data: { k: 'all' } });
    for (const c of byNode.values()) {
      await c.waitForCount((f) => f.type === 'message' && String((f.data as { k: string }).k).startsWith('w'), 4, 10_000, 'user messages');
      await c.waitFor(withData('all'), 10_000);
    }

    primary.kill('SIGTERM');
    for (const c of byNode.values()) assert.equal((await c.waitClosed(20_000)).code, 1001);
    assert.equal(await exited, 0);
  });
});
