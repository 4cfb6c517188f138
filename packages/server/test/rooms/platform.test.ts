/**
 * Platform targeting (DESIGN.md §8) on both engines, across nodes on Redis:
 * user, users, room, tenant and all targets with `platform` reach only
 * sessions of that platform; reliable user messages keep it (devices of
 * other platforms skip them, in replay too); a platform outside the enum is
 * refused with its field.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { HeraldNode } from '../../src/node.js';
import type { RedisEngine } from '../../src/engine/redis/redisEngine.js';
import { connect, nodeFactory, publish, type Frame, type TestClient } from '../helpers/harness.js';
import { useSharedRedis } from '../helpers/redisServer.js';

const node = nodeFactory();
const clients: TestClient[] = [];
const redis = useSharedRedis();
const prefix = redis.prefix;
after(() => {
  for (const c of clients) c.close();
});

async function on(n: HeraldNode, user: string, device: string, platform: string, o: { tenant?: string; lastSeq?: number } = {}): Promise<TestClient> {
  const c = await connect(n, user, { device, platform, ...o });
  clients.push(c);
  if (n.engine.kind === 'redis') await (n.engine as RedisEngine).subscriptionsFlushed();
  return c;
}

const data = (c: TestClient) => c.messages().map((f: Frame) => f.data);

for (const kind of ['memory', 'redis'] as const) {
  describe(`platform targeting (${kind})`, () => {
    let A: HeraldNode;
    let B: HeraldNode;
    before(async () => {
      const cfg = kind === 'redis' ? { engine: 'redis' as const, redisUrl: redis.url, redisKeyPrefix: prefix } : {};
      A = await node({ ...cfg, nodeId: `${kind}-pa` });
      B = kind === 'redis' ? await node({ ...cfg, nodeId: `${kind}-pb` }) : A;
    });

    test('every target kind with platform reaches only that platform (on another node too)', async () => {
      const tenant = `shop-${kind}`;
      const pos = await on(A, 'till', 'pos1', 'pos', { tenant });
      const web = await on(B, 'till', 'web1', 'web', { tenant });
      const pos2 = await on(B, 'till2', 'pos2', 'pos', { tenant });
      for (const c of [pos, web, pos2]) await c.request({ type: 'join', room: 'shop' });
      if (A.engine.kind === 'redis') await Promise.all([A, B].map((n) => (n.engine as RedisEngine).subscriptionsFlushed()));
      const targets = [
        { user: 'till', tenant, platform: 'pos' },
        { users: ['till', 'till2'], tenant, platform: 'pos' },
        { room: 'shop', tenant, platform: 'pos' },
        { tenant, platform: 'pos' },
      ];
      for (const [i, to] of targets.entries()) assert.equal((await publish(B, { to, data: `p${i}`, reliable: false })).status, 200);
      assert.equal((await publish(A, { to: { user: 'till', tenant }, data: 'all-devices', reliable: false })).status, 200);
      await pos.waitForCount((f) => f.type === 'message', 5);
      await web.waitFor((f) => f.type === 'message' && f.data === 'all-devices');
      assert.deepEqual(data(pos), ['p0', 'p1', 'p2', 'p3', 'all-devices']);
      assert.deepEqual(data(web), ['all-devices']);
      await pos2.waitForCount((f) => f.type === 'message', 3);
      assert.deepEqual(data(pos2), ['p1', 'p2', 'p3']);
      // {all:true, platform}: every connection of that platform, in every tenant.
      const pc = await on(B, 'desk', 'pc1', 'pc', { tenant: `office-${kind}` });
      assert.equal((await publish(A, { to: { all: true, platform: 'pc' }, data: 'to-pcs' })).status, 200);
      await pc.waitFor((f) => f.data === 'to-pcs');
      await publish(A, { to: { user: 'till', tenant }, data: 'marker', reliable: false });
      await web.waitFor((f) => f.data === 'marker');
      await pos.waitFor((f) => f.data === 'marker');
      assert.ok(![...data(pos), ...data(web), ...data(pos2)].includes('to-pcs'));
    });

    test('reliable: stored with the platform, other platforms skip it live and in replay', async () => {
      const pos = await on(A, 'rita', 'pos1', 'pos');
      const web = await on(B, 'rita', 'web1', 'web');
      const r1 = await publish(B, { to: { user: 'rita', platform: 'pos' }, data: 'only-pos' });
      assert.equal(r1.status, 200);
      await publish(A, { to: { user: 'rita' }, data: 'everyone' });
      await pos.waitForCount((f) => f.type === 'message', 2);
      await web.waitFor((f) => f.data === 'everyone');
      assert.deepEqual(data(pos), ['only-pos', 'everyone']);
      assert.deepEqual(data(web), ['everyone']);
      // A later web device replaying from the start skips it too; a pos one gets it.
      const web2 = await on(A, 'rita', 'web2', 'web', { lastSeq: 0 });
      const pos2 = await on(B, 'rita', 'pos2', 'pos', { lastSeq: 0 });
      await web2.waitFor((f) => f.data === 'everyone');
      await pos2.waitForCount((f) => f.type === 'message', 2);
      assert.deepEqual(data(web2), ['everyone']);
      assert.deepEqual(data(pos2), ['only-pos', 'everyone']);
    });

    test('a platform outside the enum: 400 naming to.platform', async () => {
      for (const to of [{ user: 'x', platform: 'tv' }, { room: 'r', platform: 'POS' }, { all: true, platform: 1 }]) {
        const r = await publish(A, { to, data: 1 });
        assert.equal(r.status, 400, JSON.stringify(to));
        const e = r.body.error as { code: string; field: string; message: string };
        assert.equal(e.code, 'invalid_field');
        assert.equal(e.field, 'to.platform');
        assert.match(e.message, /web, pc, mobile, pos, other/);
      }
    });
  });
}
