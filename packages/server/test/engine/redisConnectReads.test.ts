/**
 * The connect path's one-script read (issue 20, engine/redis/connectReads.ts) answers exactly what
 * the reads it replaces answer one by one: inbox head, cursor, device cursors, presence — and the
 * start point resolved through it is the same.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisEngine } from '../../src/engine/redis/redisEngine.js';
import type { ConnectReadsQuery, LocalView, Retention } from '../../src/engine/types.js';
import { resolveStartPoint, type NewDeviceStart } from '../../src/delivery/startPoint.js';
import { createLogger } from '../../src/observability/logger.js';
import { deleteKeys, sharedRedis, testPrefix } from '../helpers/redisServer.js';

const logger = createLogger(process.env.HERALD_LOG_LEVEL ?? 'silent');
const R: Retention = { maxMessages: 3, maxAgeMs: 7 * 86_400_000 };
const local: LocalView = { userDevices: () => [], roomMembers: () => [], count: () => 0 };

let admin: Redis;
let e: RedisEngine;
const prefix = testPrefix();

before(async () => {
  const shared = await sharedRedis();
  admin = shared.client;
  e = new RedisEngine({ url: shared.url, keyPrefix: prefix, nodeId: 'connect-reads', logger });
  await e.start(() => {}, local);
});

after(async () => {
  await e.close();
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

/** The start point and devices through connectReads, and through the individual reads. */
async function both(q: ConnectReadsQuery, requested: number | undefined, rule: NewDeviceStart) {
  const input = { tenant: q.tenant, user: q.user, device: q.device, requested, retention: R, newDeviceStart: rule };
  const pre = await e.connectReads(q);
  return {
    viaScript: { point: await resolveStartPoint(pre.inbox, input), devices: pre.presence },
    oneByOne: { point: await resolveStartPoint(e, input), devices: q.presence ? await e.userPresence(q.tenant, q.user) : undefined },
  };
}

test('connectReads gives the same start points and devices as the reads one by one', async () => {
  const base = { tenant: 't', retention: R };
  // A user nobody knows: empty inbox, no cursors, no presence.
  let r = await both({ ...base, user: 'nobody', device: 'd1', cursor: true, presence: true }, undefined, 'unacked');
  assert.deepEqual(r.viaScript, r.oneByOne);
  assert.deepEqual(r.viaScript.point, { start: 0, recovered: true, known: false });
  assert.deepEqual(r.viaScript.devices, []);

  // Five messages, retention keeps three (floor 2), one device acked 4, one message for a new device.
  for (let i = 1; i <= 5; i++) await e.append('t', 'u', { id: `m${i}`, ts: Date.now(), data: String(i), ...(i === 4 ? { device: 'new' } : {}) }, R);
  await e.setCursor('t', 'u', 'old', 5);
  await e.setCursor('t', 'u', 'mid', 3);
  await e.presenceAdd({ tenant: 't', user: 'u', device: 'old', platform: 'web', node: 'connect-reads', conn: 'c1', since: 1 });
  const cases: [string, number | undefined, NewDeviceStart, boolean][] = [
    ['old', undefined, 'unacked', true], // stored cursor
    ['mid', undefined, 'tip', false],
    ['old', 1, 'unacked', true], // last_seq below the floor: not recovered
    ['old', 99, 'unacked', false], // last_seq beyond the tip
    ['fresh', undefined, 'unacked', true], // new device: device cursors decide
    ['fresh', undefined, 'oldest', false],
    ['new', undefined, 'tip', true], // new device with a message addressed to it (firstForDevice)
  ];
  for (const [device, requested, rule, presence] of cases) {
    r = await both({ ...base, user: 'u', device, cursor: requested === undefined, presence }, requested, rule);
    assert.deepEqual(r.viaScript, r.oneByOne, `${device} ${String(requested)} ${rule}`);
  }
  assert.equal(r.viaScript.point.start, 3, 'the message for device "new" (seq 4) is not skipped');
  r = await both({ ...base, user: 'u', device: 'old', cursor: true, presence: true }, undefined, 'unacked');
  assert.deepEqual(
    r.viaScript.devices?.map((d) => d.device),
    ['old'],
  );
  assert.deepEqual(r.viaScript.point, { start: 5, recovered: true, known: true });
});
