/**
 * Room history and recovery (DESIGN.md §8) on both engines: offsets increase,
 * history in order by frame and HTTP, a join with `since` replays exactly what
 * was missed (on another node with Redis), a wrong epoch or an offset older
 * than history answers recovered:false, and bad input gets its exact error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { HeraldNode } from '../../src/node.js';
import type { RedisEngine } from '../../src/engine/redis/redisEngine.js';
import type { HeraldConfigInput } from '../../src/config/schema.js';
import { api, connect, nodeFactory, publish, waitUntil, type Frame, type TestClient } from '../helpers/harness.js';
import { useSharedRedis, waitFor } from '../helpers/redisServer.js';

const node = nodeFactory();
const clients: TestClient[] = [];
const redis = useSharedRedis();
const prefix = redis.prefix;
after(() => {
  for (const c of clients) c.close();
});

async function on(n: HeraldNode, user: string): Promise<TestClient> {
  const c = await connect(n, user);
  clients.push(c);
  return c;
}

async function flushed(n: HeraldNode): Promise<void> {
  if (n.engine.kind === 'redis') await (n.engine as RedisEngine).subscriptionsFlushed();
}

const roomMessages = (c: TestClient, room: string) => c.messages().filter((f) => f.room === room);

for (const kind of ['memory', 'redis'] as const) {
  describe(`room history (${kind})`, () => {
    const cfg = (extra: HeraldConfigInput = {}): HeraldConfigInput =>
      kind === 'redis' ? { engine: 'redis', redisUrl: redis.url, redisKeyPrefix: prefix, roomHistorySize: 5, ...extra } : { roomHistorySize: 5, ...extra };
    let A: HeraldNode;
    let B: HeraldNode;
    before(async () => {
      A = await node({ ...cfg(), nodeId: `${kind}-a` });
      // Memory: one node; recovery is exercised on the same node.
      B = kind === 'redis' ? await node({ ...cfg(), nodeId: `${kind}-b` }) : A;
    });

    test('offsets increase, the join reply carries offset and epoch, history is ordered (frame and HTTP)', async () => {
      const room = `h1-${kind}`;
      const alice = await on(A, 'alice');
      const j = await alice.request({ type: 'join', room });
      assert.equal(j.type, 'reply');
      assert.equal(j.offset, 0);
      assert.equal(typeof j.epoch, 'string');
      await flushed(A);
      const offsets: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await alice.request({ type: 'publish', room, data: { i } });
        offsets.push(r.offset as number);
        assert.equal(r.epoch, j.epoch);
      }
      const api1 = await publish(A, { to: { room }, data: { i: 3 } });
      assert.equal(api1.status, 200);
      offsets.push(api1.body.offset as number);
      assert.deepEqual(offsets, [1, 2, 3, 4]);
      await alice.waitForCount((f) => f.type === 'message' && f.room === room, 4);
      assert.deepEqual(roomMessages(alice, room).map((f) => f.offset), [1, 2, 3, 4]);
      const h = await alice.request({ type: 'history', room, limit: 3 });
      assert.deepEqual((h.messages as Frame[]).map((m) => [m.offset, (m.data as { i: number }).i]), [[2, 1], [3, 2], [4, 3]]);
      const http = await api(B, 'GET', `/api/v1/rooms/${room}/history?limit=10`);
      assert.equal(http.status, 200);
      assert.deepEqual((http.body.messages as Frame[]).map((m) => m.offset), [1, 2, 3, 4]);
      // Size 5: the sixth message pushes the first out.
      for (let i = 4; i < 6; i++) await publish(A, { to: { room }, data: { i } });
      const h2 = await api(A, 'GET', `/api/v1/rooms/${room}/history`);
      assert.deepEqual((h2.body.messages as Frame[]).map((m) => m.offset), [2, 3, 4, 5, 6]);
    });

    test('rejoin with since (on another node) replays exactly what was missed, then live ones, in order', async () => {
      const room = `h2-${kind}`;
      const bob = await on(A, 'bob');
      const j = await bob.request({ type: 'join', room });
      await flushed(A);
      await bob.request({ type: 'publish', room, data: 'a' });
      const seen = (await bob.waitFor((f) => f.type === 'message' && f.room === room)).offset as number;
      bob.close();
      await publish(A, { to: { room }, data: 'b' });
      await publish(A, { to: { room }, data: 'c' });
      const bob2 = await on(B, 'bob');
      // Live messages published while the replay is read must come after it, none twice.
      const live = (async () => {
        for (const d of ['d', 'e']) await publish(A, { to: { room }, data: d });
      })();
      const r = await bob2.request({ type: 'join', room, since: { offset: seen, epoch: j.epoch } });
      assert.equal(r.recovered, true);
      await live;
      await bob2.waitForCount((f) => f.type === 'message' && f.room === room, 4);
      await waitUntil(() => roomMessages(bob2, room).length >= 4, 2000);
      const got = roomMessages(bob2, room);
      assert.deepEqual(
        got.map((f) => f.data),
        ['b', 'c', 'd', 'e'],
      );
      assert.deepEqual(
        got.map((f) => f.offset),
        [2, 3, 4, 5],
      );
    });

    test('live messages arriving while the replay is read are held and follow it: no gap, no reordering, none twice', async () => {
      const room = `h6-${kind}`;
      const watcher = await on(B, 'watcher');
      const j = await watcher.request({ type: 'join', room });
      await flushed(B);
      for (const d of ['a', 'b', 'c']) await publish(A, { to: { room }, data: d });
      await watcher.waitForCount((f) => f.type === 'message' && f.room === room, 3);
      // The history read of the recovering join waits on a gate.
      const store = B.engine.roomHistory as { read: (...a: unknown[]) => Promise<unknown> };
      const read = store.read.bind(store);
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      let reading = false;
      store.read = async (...a: unknown[]) => {
        reading = true;
        await gate;
        return read(...a);
      };
      try {
        const late = await on(B, 'late');
        const reply = late.request({ type: 'join', room, since: { offset: 1, epoch: j.epoch } });
        await waitUntil(() => reading, 5000);
        for (const d of ['d', 'e']) await publish(A, { to: { room }, data: d });
        await watcher.waitForCount((f) => f.type === 'message' && f.room === room, 5); // d and e reached node B
        assert.equal(roomMessages(late, room).length, 0, 'held while the replay is read');
        open();
        assert.equal((await reply).recovered, true);
        await late.waitForCount((f) => f.type === 'message' && f.room === room, 4);
        await publish(A, { to: { room }, data: 'f' });
        await late.waitForCount((f) => f.type === 'message' && f.room === room, 5);
        assert.deepEqual(roomMessages(late, room).map((f) => [f.offset, f.data]), [[2, 'b'], [3, 'c'], [4, 'd'], [5, 'e'], [6, 'f']]);
      } finally {
        store.read = read;
        open();
      }
    });

    test('a wrong epoch, an offset older than history or in the future answers recovered:false', async () => {
      const room = `h3-${kind}`;
      const carol = await on(B, 'carol');
      const j = await carol.request({ type: 'join', room });
      for (let i = 0; i < 8; i++) await publish(A, { to: { room }, data: i });
      const c2 = await on(B, 'carol2');
      const wrong = await c2.request({ type: 'join', room, since: { offset: 7, epoch: 'not-the-epoch' } });
      assert.equal(wrong.recovered, false);
      assert.equal(wrong.offset, 8);
      const c3 = await on(B, 'carol3');
      const old = await c3.request({ type: 'join', room, since: { offset: 1, epoch: j.epoch } });
      assert.equal(old.recovered, false); // history holds 4..8: 2 and 3 are gone
      const c4 = await on(B, 'carol4');
      const future = await c4.request({ type: 'join', room, since: { offset: 99, epoch: j.epoch } });
      assert.equal(future.recovered, false);
      const c5 = await on(B, 'carol5');
      const ok = await c5.request({ type: 'join', room, since: { offset: 3, epoch: j.epoch } });
      assert.equal(ok.recovered, true);
      await c5.waitForCount((f) => f.type === 'message' && f.room === room, 5);
      assert.deepEqual(roomMessages(c5, room).map((f) => f.offset), [4, 5, 6, 7, 8]);
      assert.equal(roomMessages(c2, room).length, 0, 'no replay without recovery');
    });

    test('history lost (Redis data loss / memory restart): a new epoch, recovered:false', async () => {
      const room = `h5-${kind}`;
      const gil = await on(A, 'gil');
      const j = await gil.request({ type: 'join', room });
      await publish(A, { to: { room }, data: 1 });
      await publish(A, { to: { room }, data: 2 });
      let target = B;
      if (kind === 'redis') {
        assert.equal(await redis.admin.del(`${prefix}r{default:${room}}:hmeta`, `${prefix}r{default:${room}}:history`), 2);
      } else {
        target = await node({ ...cfg(), nodeId: 'memory-restarted' }); // a new process: nothing of the old one's history
      }
      const gil2 = await on(target, 'gil2');
      const r = await gil2.request({ type: 'join', room, since: { offset: 2, epoch: j.epoch } });
      assert.equal(r.recovered, false);
      assert.notEqual(r.epoch, j.epoch);
      assert.equal(r.offset, 0);
      const p = await publish(target, { to: { room }, data: 3 });
      assert.equal(p.body.offset, 1);
      assert.equal(p.body.epoch, r.epoch);
    });

    test('age: messages older than roomHistoryTtlSec leave history; a join since them is not recovered', { timeout: 20_000 }, async () => {
      const n = await node({ ...cfg({ roomHistoryTtlSec: 1 }), nodeId: `${kind}-ttl` });
      const room = `h7-${kind}`;
      const c = await on(n, 'ted');
      const j = await c.request({ type: 'join', room });
      await publish(n, { to: { room }, data: 1 });
      await publish(n, { to: { room }, data: 2 });
      assert.equal(((await api(n, 'GET', `/api/v1/rooms/${room}/history`)).body.messages as unknown[]).length, 2);
      await waitFor('history aged out', async () => ((await api(n, 'GET', `/api/v1/rooms/${room}/history`)).body.messages as unknown[]).length === 0, 8000);
      const c2 = await on(n, 'ted2');
      const r = await c2.request({ type: 'join', room, since: { offset: 0, epoch: j.epoch } });
      assert.equal(r.recovered, false);
    });

    test('bad since, bad limit: exact errors, the connection stays', async () => {
      const room = `h4-${kind}`;
      const dan = await on(A, 'dan');
      for (const since of [{ offset: -1, epoch: 'x' }, { offset: 'a', epoch: 'x' }, { offset: 1 }, 'garbage', { offset: 1, epoch: 'x', more: 1 }, { offset: 1.5, epoch: 'x' }]) {
        const e = await dan.request({ type: 'join', room, since });
        assert.equal(e.type, 'error');
        assert.equal(e.code, 'bad_field');
        assert.match(e.message as string, /field "since"/);
      }
      for (const limit of [0, -1, 'x', 1.5]) {
        const e = await dan.request({ type: 'history', room, limit });
        assert.equal(e.code, 'bad_field');
      }
      const tooMany = await dan.request({ type: 'history', room, limit: 101 });
      assert.equal(tooMany.code, 'bad_field');
      assert.match(tooMany.message as string, /1-100/);
      for (const q of ['limit=0', 'limit=101', 'limit=abc', 'limit=-3']) {
        const r = await api(A, 'GET', `/api/v1/rooms/${room}/history?${q}`);
        assert.equal(r.status, 400);
        assert.equal((r.body.error as { field: string }).field, 'limit');
      }
      assert.equal((await api(A, 'GET', `/api/v1/rooms/${encodeURIComponent('bad room')}/history`)).status, 400);
      assert.equal((await dan.request({ type: 'join', room })).type, 'reply');
    });
  });
}

describe('room history bounds', () => {
  test('history off (default): no offset, no epoch; since answers recovered:false', async () => {
    const n = await node();
    const c = await on(n, 'erin');
    const j = await c.request({ type: 'join', room: 'plain' });
    assert.equal(j.offset, undefined);
    const r = await c.request({ type: 'publish', room: 'plain', data: 1 });
    assert.equal(r.offset, undefined);
    const m = await c.waitFor((f) => f.type === 'message');
    assert.equal(m.offset, undefined);
    const c2 = await on(n, 'erin2');
    assert.equal((await c2.request({ type: 'join', room: 'plain', since: { offset: 0, epoch: 'x' } })).recovered, false);
    assert.deepEqual((await c.request({ type: 'history', room: 'plain' })).messages, []);
  });

  test('per-room overrides by prefix: longest prefix wins', async () => {
    const n = await node({ roomHistorySize: 2, roomHistoryOverrides: ['chat:=4', 'chat:none=0'] });
    for (let i = 0; i < 6; i++) {
      await publish(n, { to: { room: 'chat:1' }, data: i });
      await publish(n, { to: { room: 'other' }, data: i });
      await publish(n, { to: { room: 'chat:none' }, data: i });
    }
    const len = async (room: string) => ((await api(n, 'GET', `/api/v1/rooms/${room}/history`)).body.messages as unknown[]).length;
    assert.equal(await len('chat:1'), 4);
    assert.equal(await len('other'), 2);
    assert.equal(await len('chat:none'), 0);
  });

  test('memory: the total bound drops the least recently published rooms whole (new epoch)', async () => {
    const n = await node({ roomHistorySize: 1000, roomHistoryMaxTotalBytes: 64 * 1024 });
    const big = 'x'.repeat(1000);
    const c = await on(n, 'fay');
    const first = await c.request({ type: 'join', room: 'r0' });
    for (let room = 0; room < 10; room++) for (let i = 0; i < 10; i++) await publish(n, { to: { room: `r${room}` }, data: big });
    const store = (n.engine as unknown as { roomHistory: { bytes(): number } }).roomHistory;
    assert.ok(store.bytes() <= 64 * 1024, `held ${store.bytes()} bytes`);
    // r0 went first: its history and epoch are gone, so recovery from it is refused.
    const c2 = await on(n, 'fay2');
    const r = await c2.request({ type: 'join', room: 'r0', since: { offset: 0, epoch: first.epoch } });
    assert.equal(r.recovered, false);
    assert.notEqual(r.epoch, first.epoch);
    assert.equal(((await api(n, 'GET', '/api/v1/rooms/r9/history')).body.messages as unknown[]).length, 10);
  });
});
