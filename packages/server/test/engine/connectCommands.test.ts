/**
 * Issue 20, the connect's commands on a single Redis: the `replace` event goes out with the
 * presence script (PRESENCE_ADD publishes it: one command), and the newest messages of a confirmed
 * SUBSCRIBE batch are read by one NEWEST_MANY, not one NEWEST per user — with the same events.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisEngine } from '../../src/engine/redis/redisEngine.js';
import type { BusEvent, LocalView } from '../../src/engine/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { recordCommandNames } from '../helpers/commandLog.js';
import { deleteKeys, sharedRedis, testPrefix, waitFor } from '../helpers/redisServer.js';

const logger = createLogger(process.env.HERALD_LOG_LEVEL ?? 'silent');
const view: LocalView = { userDevices: () => [], roomMembers: () => [], count: () => 0 };
const R = { maxMessages: 1000, maxAgeMs: 86_400_000 };
const prefix = testPrefix();
let url: string;
let admin: Redis;
const engines: RedisEngine[] = [];

async function engine(nodeId: string, events: BusEvent[]): Promise<RedisEngine> {
  const e = new RedisEngine({ url, keyPrefix: prefix, nodeId, logger });
  engines.push(e);
  await e.start((ev) => events.push(ev), view);
  return e;
}

const cmdOf = (e: RedisEngine): Redis => (e as unknown as { cmd: Redis }).cmd;

before(async () => {
  ({ url, client: admin } = await sharedRedis());
});

after(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

test('presenceAdd with a replace event: one command, the record written and the event published to the other nodes', async () => {
  const seenByB: BusEvent[] = [];
  const a = await engine('cc-a', []);
  const b = await engine('cc-b', seenByB);
  await b.subscribe({ kind: 'user', tenant: 't', user: 'cc-u' });
  const sent = recordCommandNames(cmdOf(a));
  const replace = { kind: 'replace', tenant: 't', user: 'cc-u', device: 'd1', conn: 'cc-a.1', at: 5 } as const;
  const first = await a.presenceAdd({ tenant: 't', user: 'cc-u', device: 'd1', platform: 'web', node: 'cc-a', conn: 'cc-a.1', since: 5 }, true, replace);
  assert.equal(first, true);
  assert.equal(sent.length, 1, `one command (${sent.join(', ')})`);
  await waitFor('replace received by the other node', async () => seenByB.some((e) => e.kind === 'replace'), 5_000);
  assert.deepEqual(seenByB.find((e) => e.kind === 'replace'), replace);
  assert.deepEqual((await b.userPresence('t', 'cc-u')).map((d) => [d.device, d.conn]), [['d1', 'cc-a.1']]);
});

test('a confirmed batch of user channels is re-announced by one command, each user its newest message', async () => {
  const events: BusEvent[] = [];
  const e = await engine('cc-n', events);
  await e.append('t', 'n1', { id: 'm1', ts: Date.now(), data: '1' }, R);
  await e.append('t', 'n1', { id: 'm2', ts: Date.now(), data: '2' }, R);
  await e.append('t', 'n2', { id: 'm3', ts: Date.now(), data: '3', expiresAt: Date.now() + 60_000 }, R);
  await e.append('t', 'n3', { id: 'gone', ts: Date.now(), data: 'x', expiresAt: Date.now() + 1 }, R);
  await new Promise((r) => setTimeout(r, 5));
  const sent = recordCommandNames(cmdOf(e));
  await Promise.all(['n1', 'n2', 'n3', 'n4'].map((user) => e.subscribe({ kind: 'user', tenant: 't', user })));
  await waitFor('re-announced', async () => events.filter((x) => x.kind === 'inbox').length >= 2, 5_000);
  await new Promise((r) => setTimeout(r, 50));
  const inbox = events.flatMap((x) => (x.kind === 'inbox' ? [[x.user, x.message.id, x.message.seq]] : []));
  assert.deepEqual(inbox.sort(), [['n1', 'm2', 2], ['n2', 'm3', 1]], 'the newest unexpired message of each user, none for n3 (expired) and n4 (empty)');
  assert.deepEqual(sent.filter((n) => n === 'evalsha' || n === 'eval'), [sent.includes('eval') ? 'eval' : 'evalsha'], `one script command (${sent.join(', ')})`);
});
