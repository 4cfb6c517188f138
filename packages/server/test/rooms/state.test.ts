/**
 * Awareness state (DESIGN.md §8) on both engines, across nodes on Redis:
 * set, seen by members, listed by presence (frame and HTTP), coalesced,
 * cleared on leave, disconnect and kill -9 of the node; bounded in size and
 * rate; refused from non-members.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { DEFAULT_TENANT } from '@herald/protocol';
import type { HeraldNode } from '../../src/node.js';
import type { RedisEngine } from '../../src/engine/redis/redisEngine.js';
import type { HeraldConfigInput } from '../../src/config/schema.js';
import { spawnRedisNode, api, connect, nodeFactory, type Frame, type TestClient } from '../helpers/harness.js';
import { deleteKeys, freePort, sharedRedis, testPrefix, waitFor } from '../helpers/redisServer.js';

const node = nodeFactory();
const clients: TestClient[] = [];
const children: ChildProcess[] = [];
let admin: Redis;
let redisUrl: string;
const prefix = testPrefix();

before(async () => {
  ({ url: redisUrl, client: admin } = await sharedRedis());
});
after(async () => {
  for (const c of clients) c.close();
  for (const ch of children) ch.kill('SIGKILL');
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

async function on(n: HeraldNode, user: string, room?: string): Promise<TestClient> {
  const c = await connect(n, user);
  clients.push(c);
  if (room) assert.equal((await c.request({ type: 'join', room })).type, 'reply');
  if (n.engine?.kind === 'redis') await (n.engine as RedisEngine).subscriptionsFlushed();
  return c;
}

const stateOf = (user: string) => (f: Frame) => f.type === 'state' && f.user === user;
const members = async (n: HeraldNode, room: string) => (await api(n, 'GET', `/api/v1/rooms/${room}/presence`)).body.members as { user: string; state?: unknown }[];

for (const kind of ['memory', 'redis'] as const) {
  describe(`awareness state (${kind})`, () => {
    const cfg = (extra: HeraldConfigInput = {}): HeraldConfigInput =>
      kind === 'redis' ? { engine: 'redis', redisUrl, redisKeyPrefix: prefix, ...extra } : { ...extra };
    let A: HeraldNode;
    let B: HeraldNode;
    before(async () => {
      A = await node({ ...cfg({ roomStateFlushMs: 200 }), nodeId: `${kind}-sa` });
      B = kind === 'redis' ? await node({ ...cfg({ roomStateFlushMs: 200 }), nodeId: `${kind}-sb` }) : A;
    });

    test('set, seen by members (other node), listed by presence, cleared on leave and disconnect', async () => {
      const room = `s1-${kind}`;
      const alice = await on(A, 'alice', room);
      const bob = await on(B, 'bob', room);
      assert.equal((await alice.request({ type: 'state', room, data: { cursor: 3 } })).type, 'reply');
      const seen = await bob.waitFor(stateOf('alice'));
      assert.deepEqual(seen, { type: 'state', room, user: 'alice', device: 'default', data: { cursor: 3 } });
      await waitFor('state listed', async () => (await members(B, room)).some((m) => m.user === 'alice' && (m.state as { cursor?: number })?.cursor === 3));
      const p = await bob.request({ type: 'presence', room });
      assert.deepEqual((p.members as { user: string; state?: unknown }[]).find((m) => m.user === 'alice')?.state, { cursor: 3 });
      assert.equal((p.members as { user: string; state?: unknown }[]).find((m) => m.user === 'bob')?.state, undefined);

      // null clears
      alice.send({ type: 'state', room, data: null });
      await bob.waitFor((f) => stateOf('alice')(f) && f.data === null);
      await waitFor('state cleared', async () => (await members(B, room)).every((m) => m.state === undefined));

      // leave clears for everyone
      await alice.request({ type: 'state', room, data: 'typing' });
      await bob.waitFor((f) => stateOf('alice')(f) && f.data === 'typing');
      const before = bob.frames.length;
      await alice.request({ type: 'leave', room });
      await bob.waitFor((f) => bob.frames.indexOf(f) >= before && stateOf('alice')(f) && f.data === null);
      await waitFor('left: no state', async () => !(await members(B, room)).some((m) => m.user === 'alice'));

      // disconnect clears for everyone
      const carol = await on(A, 'carol', room);
      await carol.request({ type: 'state', room, data: { sel: [1, 2] } });
      await bob.waitFor((f) => stateOf('carol')(f) && f.data !== null);
      carol.close();
      await bob.waitFor((f) => stateOf('carol')(f) && f.data === null);
      await waitFor('disconnected: no state', async () => !(await members(B, room)).some((m) => m.user === 'carol'));
    });

    test('a burst is coalesced: members get the latest, not every update', async () => {
      const room = `s2-${kind}`;
      const dan = await on(A, 'dan', room);
      const erin = await on(B, 'erin', room);
      for (let i = 1; i <= 30; i++) dan.send({ type: 'state', room, data: { x: i } });
      await erin.waitFor((f) => stateOf('dan')(f) && (f.data as { x: number }).x === 30);
      const got = erin.frames.filter(stateOf('dan'));
      assert.ok(got.length <= 10, `${got.length} state frames for 30 updates`); // without coalescing: 30
    });

    test('non-member, too large, flood, bad data: exact errors, the connection stays', async () => {
      const room = `s3-${kind}`;
      const fay = await on(A, 'fay');
      const nm = await fay.request({ type: 'state', room, data: 1 });
      assert.equal(nm.code, 'not_joined');
      await fay.request({ type: 'join', room });
      const big = await fay.request({ type: 'state', room, data: 'x'.repeat(5000) });
      assert.equal(big.code, 'payload_too_large');
      const missing = await fay.request({ type: 'state', room });
      assert.equal(missing.code, 'bad_field');
      const n = await node({ ...cfg({ roomStateRatePerConn: 2, roomStateBurstPerConn: 3 }), nodeId: `${kind}-flood` });
      const gus = await on(n, 'gus', room);
      const answers: Frame[] = [];
      for (let i = 0; i < 8; i++) answers.push(await gus.request({ type: 'state', room, data: i }));
      const limited = answers.filter((f) => f.code === 'rate_limited').length;
      assert.ok(limited >= 4, `${limited} of 8 rate limited`);
      assert.equal((await gus.request({ type: 'presence', room })).type, 'reply');
    });
  });
}

describe('awareness state and node death (redis)', () => {
  test('states relayed from another node are forgotten when cleared and when the room has no member here', async () => {
    const cfg = { engine: 'redis', redisUrl, redisKeyPrefix: prefix } as const;
    const A = await node({ ...cfg, nodeId: 'relay-a', roomStateFlushMs: 0 });
    const B = await node({ ...cfg, nodeId: 'relay-b', roomStateFlushMs: 0 });
    const room = 'relay-room';
    const kept = () => B.gateway.roomParts.awareness.relayed.inRoom(DEFAULT_TENANT, room);
    const ann = await on(A, 'ann', room);
    const ben = await on(B, 'ben', room);
    await ann.request({ type: 'state', room, data: 1 });
    await ben.waitFor((f) => stateOf('ann')(f) && f.data === 1);
    assert.equal(kept(), 1);
    await ann.request({ type: 'state', room, data: null });
    await ben.waitFor((f) => stateOf('ann')(f) && f.data === null);
    assert.equal(kept(), 0);
    await ann.request({ type: 'state', room, data: 2 });
    await ben.waitFor((f) => stateOf('ann')(f) && f.data === 2);
    assert.equal(kept(), 1);
    await ben.request({ type: 'leave', room });
    assert.equal(kept(), 0);
  });

  test('kill -9 of the node: its members\u2019 states vanish from presence and members on every surviving node get data:null', { timeout: 60_000 }, async () => {
    // Small liveness options: the bound is nodeTtlMs + nodeHeartbeatMs.
    const TTL = 1200;
    const HB = 300;
    const live = { engine: 'redis', redisUrl, redisKeyPrefix: prefix, nodeTtlMs: TTL, nodeHeartbeatMs: HB } as const;
    const A = await node({ ...live, nodeId: 'state-survivor' });
    const A2 = await node({ ...live, nodeId: 'state-survivor-2' });
    const A3 = await node({ ...live, nodeId: 'state-survivor-3' });
    const port = await freePort();
    const child = spawnRedisNode({ redisUrl: redisUrl, prefix: prefix, port, nodeId: 'state-doomed', env: { HERALD_ROOM_STATE_FLUSH_MS: '0', HERALD_NODE_TTL_MS: String(TTL), HERALD_NODE_HEARTBEAT_MS: String(HB) } });
    children.push(child);
    const K = { url: `http://127.0.0.1:${port}` } as HeraldNode;
    await waitFor('child node ready', async () => (await fetch(`${K.url}/readyz`).catch(() => undefined))?.status === 200, 30_000);
    const room = 'doomed-room';
    const watcher = await on(A, 'watcher', room);
    const watcher2 = await on(A2, 'watcher2', room);
    const hal = await on(K, 'hal', room);
    await hal.request({ type: 'state', room, data: { typing: true } });
    await watcher.waitFor(stateOf('hal'));
    await watcher2.waitFor(stateOf('hal'));
    await waitFor('listed', async () => (await members(A, room)).some((m) => m.user === 'hal' && m.state !== undefined));
    // Joins after the state was set (its node relayed nothing of it) and sees it only in a presence reply.
    const late = await on(A3, 'late', room);
    const listed = await late.request({ type: 'presence', room });
    assert.deepEqual((listed.members as { user: string; state?: unknown }[]).find((m) => m.user === 'hal')?.state, { typing: true });
    await waitFor('listed state watched', async () => A3.gateway.roomParts.awareness.relayed.inRoom(DEFAULT_TENANT, room) === 1);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();
    const cleared = (f: Frame) => stateOf('hal')(f) && f.data === null;
    const [seen] = await Promise.all([
      watcher.waitFor(cleared, 10_000, 'hal cleared on the survivor'),
      watcher2.waitFor(cleared, 10_000, 'hal cleared on the second survivor'),
      late.waitFor(cleared, 10_000, 'hal cleared for the member that joined late'),
    ]);
    const elapsed = Date.now() - killedAt;
    assert.deepEqual(seen, { type: 'state', room, user: 'hal', device: 'default', data: null });
    assert.equal(A.gateway.roomParts.awareness.relayed.size, 0); // nothing kept for the dead node
    // The bound, plus scheduling slack on a loaded machine.
    assert.ok(elapsed <= TTL + HB + 1500, `cleared ${elapsed} ms after the kill (bound ${TTL + HB} ms)`);
    await waitFor('dead node state gone', async () => !(await members(A, room)).some((m) => m.user === 'hal'), 30_000);
    assert.ok((await members(A, room)).some((m) => m.user === 'watcher'));
    // Once per member: a later state from a live member arrives after any repeat would have.
    await watcher2.request({ type: 'state', room, data: 'after' });
    await watcher.waitFor((f) => stateOf('watcher2')(f) && f.data === 'after');
    assert.equal(watcher.frames.filter(cleared).length, 1);
  });

  test('a member of the dead node that came back on a survivor and set a new state keeps it (found by the stress suite, rooms scenario)', { timeout: 60_000 }, async () => {
    const TTL = 1200;
    const HB = 300;
    const live = { engine: 'redis', redisUrl, redisKeyPrefix: prefix, nodeTtlMs: TTL, nodeHeartbeatMs: HB, roomStateFlushMs: 0 } as const;
    const A = await node({ ...live, nodeId: 'back-survivor' });
    const port = await freePort();
    const child = spawnRedisNode({ redisUrl: redisUrl, prefix: prefix, port, nodeId: 'back-doomed', env: { HERALD_ROOM_STATE_FLUSH_MS: '0', HERALD_NODE_TTL_MS: String(TTL), HERALD_NODE_HEARTBEAT_MS: String(HB) } });
    children.push(child);
    const K = { url: `http://127.0.0.1:${port}` } as HeraldNode;
    await waitFor('child node ready', async () => (await fetch(`${K.url}/readyz`).catch(() => undefined))?.status === 200, 30_000);
    const room = 'back-room';
    const watcher = await on(A, 'bwatcher', room);
    const hal = await on(K, 'bhal', room);
    const kim = await on(K, 'bkim', room);
    await hal.request({ type: 'state', room, data: 'before' });
    await kim.request({ type: 'state', room, data: 'kim' });
    await watcher.waitFor((f) => stateOf('bkim')(f) && f.data === 'kim');
    await watcher.waitFor((f) => stateOf('bhal')(f) && f.data === 'before');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    // hal reconnects to the survivor before the dead node is noticed and sets a new state there.
    const back = await on(A, 'bhal', room);
    await back.request({ type: 'state', room, data: 'back' });
    await watcher.waitFor((f) => stateOf('bhal')(f) && f.data === 'back');
    // kim's clear comes from the same dead-node sweep that would clear hal's old state.
    await watcher.waitFor((f) => stateOf('bkim')(f) && f.data === null, 10_000, 'kim cleared');
    const hals = watcher.frames.filter(stateOf('bhal')).map((f) => f.data);
    assert.deepEqual(hals, ['before', 'back'], 'the state set again on a live node must not be cleared as the dead node\u2019s');
    assert.deepEqual((await members(A, room)).find((m) => m.user === 'bhal')?.state, 'back');
  });
});
