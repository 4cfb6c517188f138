/**
 * Issue 13 item 5: identifiers are well-formed UTF-16 at every boundary, so
 * every identifier that reaches a Redis key round-trips byte-exact (ioredis
 * encodes a lone surrogate as U+FFFD: `acme\ud800` would alias `acme\ufffd`).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { RedisEngine } from '../../src/engine/redis/redisEngine.js';
import type { LocalView } from '../../src/engine/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { isWellFormedId } from '../../src/protocol/identifiers.js';
import type { MintOptions } from '../../src/auth/tokens.js';
import { connect, nodeFactory, open, publish, token } from '../helpers/harness.js';
import { deleteKeys, sharedRedis, testPrefix } from '../helpers/redisServer.js';

const R = { maxMessages: 1000, maxAgeMs: 86_400_000 };
const view: LocalView = { userDevices: () => [], roomMembers: () => [], count: () => 0 };
const node = nodeFactory();
const prefix = testPrefix();
let url: string;
let admin: Redis;
let engine: RedisEngine;

before(async () => {
  // One retry: on a loaded machine the helper's 1 s reachability probe can miss the first time.
  ({ url, client: admin } = await sharedRedis().catch(() => sharedRedis()));
  engine = new RedisEngine({ url, keyPrefix: prefix, nodeId: 'ids', logger: createLogger('silent') });
  await engine.start(() => undefined, view);
});

after(async () => {
  await engine.close();
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

/** Well-formed ids, salted with the characters that carry structure in keys and with astral pairs. */
const ident = fc
  .array(fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }), fc.constantFrom(':', '{', '}', '%', '%3A', '\ufffd', '\ud83d\ude00', 'é')), { minLength: 1, maxLength: 5 })
  .map((parts) => parts.join('').slice(0, 60))
  .filter((s) => s.length > 0 && isWellFormedId(s));

test('every identifier that reaches a Redis key round-trips byte-exact (write, then read back via Redis)', async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(ident, ident, ident, ident, ident, async (tenant, user, device, room, event) => {
      const id = `m${++n}`;
      const keys = [engine.keys.userMeta(tenant, user), engine.keys.userInbox(tenant, user), engine.keys.userCursors(tenant, user), engine.keys.roomMembers(tenant, room)];
      // UTF-8 of a well-formed string decodes to the same string: one id, one key.
      for (const k of keys) assert.equal(Buffer.from(k, 'utf8').toString('utf8'), k);
      const stored = await engine.append(tenant, user, { id, ts: Date.now(), data: '1', device, event }, R);
      const range = await engine.readAfter(tenant, user, stored.seq - 1, 10, R);
      assert.equal(range.messages.length, 1);
      assert.equal(range.messages[0]!.device, device);
      assert.equal(range.messages[0]!.event, event);
      assert.equal(range.messages[0]!.id, id);
      await engine.setCursor(tenant, user, device, stored.seq);
      assert.equal(await engine.getCursor(tenant, user, device), stored.seq);
      // Read back with another client: the hash field is exactly the device id.
      assert.deepEqual(await admin.hgetall(engine.keys.userCursors(tenant, user)), { [device]: String(stored.seq) });
      await engine.presenceAdd({ tenant, user, device, platform: 'web', node: 'ids', conn: id, since: 1 });
      const online = await engine.userPresence(tenant, user);
      assert.deepEqual(online.map((d) => [d.tenant, d.user, d.device]), [[tenant, user, device]]);
      await engine.roomJoin(tenant, room, { user, device, node: 'ids' });
      assert.deepEqual(await engine.roomPresence(tenant, room), [{ user, device, node: 'ids' }]);
      // Clean up so the next run's equal ids (fast-check shrinks to repeats) start from scratch.
      await engine.presenceRemove({ tenant, user, device, platform: 'web', node: 'ids', conn: id, since: 1 });
      await engine.roomLeave(tenant, room, { user, device, node: 'ids' });
      await admin.del(...keys);
    }),
    { numRuns: 60 },
  );
});

test('lone surrogates are refused at the JWT (4001 naming the claim) on the Redis engine', async () => {
  const n = await node({ engine: 'redis', redisUrl: url, redisKeyPrefix: prefix });
  // A victim tenant whose name is what ioredis would turn the attacker's into.
  assert.equal((await publish(n, { to: { user: 'carol', tenant: 'acme\ufffd' }, data: 'secret' })).status, 200);
  const cases: [Partial<MintOptions>, string][] = [
    [{ tenant: 'acme\ud800' }, 'tid'],
    [{ device: 'd\udfff' }, 'did'],
    [{ rooms: ['ok', 'r\ud800'] }, 'rooms'],
  ];
  for (const [claims, field] of cases) {
    const c = open(n, { token: await token('carol', claims) });
    const closed = await c.waitClosed();
    assert.equal(closed.code, 4001, JSON.stringify(claims));
    assert.match(closed.reason, new RegExp(`"${field}".*lone surrogate`));
    assert.equal(c.messages().length, 0);
  }
  const sub = open(n, { token: await token('carol\ud83d') });
  const closed = await sub.waitClosed();
  assert.equal(closed.code, 4001);
  assert.match(closed.reason, /"sub".*lone surrogate/);
  // Well-formed astral ids are fine.
  const ok = await connect(n, 'carol\ud83d\ude00', { tenant: 'acme\ud83d\ude00' });
  assert.equal(ok.frames[0]!.user, 'carol\ud83d\ude00');
  ok.close();
});

test('lone surrogates are refused by the HTTP API (400 naming the field) and in frames', async () => {
  const n = await node({ engine: 'redis', redisUrl: url, redisKeyPrefix: prefix });
  const cases: [unknown, string][] = [
    [{ to: { user: 'carol\ud83d' }, data: 1 }, 'to.user'],
    [{ to: { user: 'carol', tenant: 'acme\ud800' }, data: 1 }, 'to.tenant'],
    [{ to: { users: ['a', 'carol\udfff'] }, data: 1 }, 'to.users.1'],
    [{ to: { tenant: 'acme\ud800' }, data: 1 }, 'to.tenant'],
    [{ to: { user: 'carol' }, data: 1, event: 'e\ud800' }, 'event'],
    [{ to: { user: 'carol' }, data: 1, idempotency_key: 'k\ud800' }, 'idempotency_key'],
  ];
  for (const [body, field] of cases) {
    const r = await publish(n, body);
    assert.equal(r.status, 400, field);
    const err = r.body.error as { code: string; field: string; message: string };
    assert.equal(err.code, 'invalid_field');
    assert.equal(err.field, field);
    assert.match(err.message, /lone surrogate/);
  }
  const batch = await publish(n, { to: { user: 'x' }, data: 1 }); // sanity: well-formed passes
  assert.equal(batch.status, 200);
  const c = await connect(n, 'frames', { rooms: ['lobby'] });
  await c.request({ type: 'join', room: 'lobby' });
  const reply = await c.request({ type: 'publish', room: 'lobby', data: 1, event: 'e\ud800' });
  assert.equal(reply.type, 'error');
  assert.match(String(reply.message), /"event".*lone surrogate/);
  c.close();
});
