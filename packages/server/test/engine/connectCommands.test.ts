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

const presenceOf = (node: string, user: string, device: string, conn: string) => ({ tenant: 't', user, device, platform: 'web' as const, node, conn, since: 7 });

test('connectStart: presence record, replace event, the new device cursor and the first replay read in one command, the read handed to the stream', async () => {
  const seenByB: BusEvent[] = [];
  const a = await engine('cs-a', []);
  const b = await engine('cs-b', seenByB);
  await b.subscribe({ kind: 'user', tenant: 't', user: 'cs-u' });
  for (const id of ['m1', 'm2', 'm3']) await a.append('t', 'cs-u', { id, ts: Date.now(), data: `"${id}"` }, R);
  const sent = recordCommandNames(cmdOf(a));
  const replace = { kind: 'replace', tenant: 't', user: 'cs-u', device: 'd1', conn: 'cs-a.1', at: 7 } as const;
  let read: Promise<{ messages: { id: string }[]; tip: number; floor: number }> | undefined;
  // The stream's first read asks for fewer than the script read: the first of them.
  const first = await a.connectStart(
    { presence: presenceOf('cs-a', 'cs-u', 'd1', 'cs-a.1'), announce: true, publish: replace, cursor: 1, replay: { after: 1, limit: 100, retention: R } },
    { begin: () => void (read = a.readAfter('t', 'cs-u', 1, 1, R)) },
  );
  assert.equal(first, true);
  const range = await read!;
  assert.deepEqual([range.messages.map((m) => m.id), range.tip, range.floor], [['m2'], 3, 0]);
  assert.equal(sent.length, 1, `one command (${sent.join(', ')})`);
  assert.equal(await a.getCursor('t', 'cs-u', 'd1'), 1, 'the new device cursor is stored');
  await waitFor('replace received by the other node', async () => seenByB.some((e) => e.kind === 'replace'), 5_000);
  assert.deepEqual(seenByB.find((e) => e.kind === 'replace'), replace);
  assert.deepEqual((await b.userPresence('t', 'cs-u')).map((d) => [d.device, d.conn]), [['d1', 'cs-a.1']]);
  // Later reads, and reads begin() did not make, go to Redis.
  const again = await a.readAfter('t', 'cs-u', 1, 100, R);
  assert.deepEqual(again.messages.map((m) => m.id), ['m2', 'm3']);
  assert.equal(sent.length - 2, 1, 'the later read is a command of its own');
  // A second device of the user: not first; its stream reads from elsewhere (after 2): that read is Redis'.
  let other: Promise<{ messages: { id: string }[] }> | undefined;
  const second = await a.connectStart(
    { presence: presenceOf('cs-a', 'cs-u', 'd2', 'cs-a.2'), announce: true, publish: { ...replace, device: 'd2', conn: 'cs-a.2' }, cursor: undefined, replay: { after: 0, limit: 100, retention: R } },
    { begin: () => void (other = a.readAfter('t', 'cs-u', 2, 100, R)) },
  );
  assert.equal(second, false);
  assert.deepEqual((await other!).messages.map((m) => m.id), ['m3']);
  assert.equal(await a.getCursor('t', 'cs-u', 'd2'), undefined, 'no cursor asked, none written');
});

test('a connect that waited for its channel reads the re-announce in its own script: no NEWEST_MANY, the newest message announced', async () => {
  const events: BusEvent[] = [];
  const e = await engine('cs-n', events);
  await e.append('t', 'cs-w', { id: 'w1', ts: Date.now(), data: '1' }, R);
  await e.append('t', 'cs-w', { id: 'w2', ts: Date.now(), data: '2' }, R);
  const sent = recordCommandNames(cmdOf(e));
  await e.subscribe({ kind: 'user', tenant: 't', user: 'cs-w' });
  // As the activation does: on in the same turn as the confirmation, before the next check phase.
  const replace = { kind: 'replace', tenant: 't', user: 'cs-w', device: 'd1', conn: 'cs-n.1', at: 7 } as const;
  await e.connectStart({ presence: presenceOf('cs-n', 'cs-w', 'd1', 'cs-n.1'), announce: true, publish: replace, cursor: undefined, replay: { after: 2, limit: 100, retention: R } }, { begin: () => {} });
  await waitFor('re-announced', async () => events.some((x) => x.kind === 'inbox'), 5_000);
  await new Promise((r) => setTimeout(r, 50));
  const inbox = events.flatMap((x) => (x.kind === 'inbox' ? [[x.user, x.message.id, x.message.seq]] : []));
  assert.deepEqual(inbox, [['cs-w', 'w2', 2]]);
  assert.equal(sent.filter((n) => n === 'evalsha' || n === 'eval').length, 1, `one script command, CONNECT_START (${sent.join(', ')})`);
});
