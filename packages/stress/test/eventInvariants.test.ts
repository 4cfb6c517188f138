/** The webhook-event and connect-hook checks fail on recordings that break them (a check that cannot fail is a defect). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkWebhookEvents, processOf, type EventCheckInput, type NodeCrash } from '../src/eventInvariants.js';
import { checkConnectAttempts, type ConnectAttempt } from '../src/hookInvariants.js';
import type { ReceivedEvent } from '../src/webhookReceiver.js';

const ev = (id: string, type: string, o: Partial<ReceivedEvent> = {}): ReceivedEvent => {
  const e = { id, type, ts: 1000, node: 'a', tenant: 't1', user: 'ns.u', ...o };
  return { ...e, json: JSON.stringify(e), at: 2000 };
};
/** One user, one connection on node a: connect, online, disconnect, offline. */
const life = (conn = 'a.1', n = 1): ReceivedEvent[] => [
  ev(`a.b.${n}`, 'connect', { conn }),
  ev(`a.b.${n + 1}`, 'online', { conn }),
  ev(`a.b.${n + 2}`, 'disconnect', { conn, code: 1000 }),
  ev(`a.b.${n + 3}`, 'offline', { conn, reason: 'disconnected' }),
];
const input = (events: ReceivedEvent[], o: Partial<EventCheckInput> = {}): EventCheckInput => ({
  events,
  mine: (u) => u.startsWith('ns.'),
  conns: [{ tenant: 't1', user: 'ns.u', conn: 'a.1' }],
  users: [{ tenant: 't1', user: 'ns.u' }],
  ...o,
});
const details = (v: { detail: string }[]): string => v.map((x) => x.detail).join(' | ');

test('webhooks: a complete life passes; repeats of an id are counted, not failed', () => {
  const l = life();
  const r = checkWebhookEvents(input([...l, l[0]!, l[3]!]));
  assert.deepEqual(r.violations, []);
  assert.equal(r.distinct, 4);
  assert.equal(r.repeats, 2);
});

test('webhooks: events of other namespaces are ignored', () => {
  const r = checkWebhookEvents(input([...life(), ev('x.y.1', 'offline', { user: 'other.u' })]));
  assert.deepEqual(r.violations, []);
});

test('webhooks: a lost event fails (the connection the client saw has no disconnect, the user no offline)', () => {
  const l = life();
  const v = checkWebhookEvents(input([l[0]!, l[1]!])).violations;
  assert.match(details(v), /without a disconnect event: a\.1/);
  assert.match(details(v), /not offline at the end/);
});

test('webhooks: a connection seen by a client without any event fails', () => {
  const v = checkWebhookEvents(input(life(), { conns: [{ tenant: 't1', user: 'ns.u', conn: 'a.1' }, { tenant: 't1', user: 'ns.u', conn: 'a.9' }] })).violations;
  assert.match(details(v), /without a connect event: a\.9 \(seen by the client\)/);
});

test('webhooks: one fact under two ids fails (a duplicate after dedupe)', () => {
  const v = checkWebhookEvents(input([...life(), ev('a.b.9', 'disconnect', { conn: 'a.1', code: 1000 })])).violations;
  assert.match(details(v), /several events under different ids: a\.1/);
  const w = checkWebhookEvents(input([...life().slice(0, 2), ev('a.b.7', 'online', { conn: 'a.1' }), ...life().slice(2)])).violations;
  assert.match(details(w), /online \(a\.b\.7\) twice in a row/);
});

test('webhooks: an id sent again with other content fails', () => {
  const l = life();
  const changed = { ...l[0]!, json: l[0]!.json.replace('"a.1"', '"a.2"') };
  assert.match(details(checkWebhookEvents(input([...l, changed])).violations), /sent again with different content: a\.b\.1/);
});

test('webhooks: events of one node out of its order fail; disconnect before connect fails', () => {
  const l = life();
  assert.match(details(checkWebhookEvents(input([l[1]!, l[0]!, l[2]!, l[3]!])).violations), /out of the order their node made them: .*a\.b\.1 \(connect\) after a\.b\.2/);
  const swapped = [ev('z', 'disconnect', { conn: 'a.1', code: 1000 }), ev('y', 'connect', { conn: 'a.1' }), ev('a.b.2', 'online', { conn: 'a.1' }), ev('a.b.4', 'offline', { conn: 'a.1' })];
  assert.match(details(checkWebhookEvents(input(swapped)).violations), /disconnect arrived before its connect: a\.1/);
});

const crash = (o: Partial<NodeCrash> = {}): NodeCrash => ({ node: 'a', at: 1000, boundMs: 500, conns: [{ tenant: 't1', user: 'ns.u', conn: 'a.1' }], orphans: [{ tenant: 't1', user: 'ns.u' }], maxWindowMs: 5000, ...o });
const lost = (ts: number, reason = 'node lost'): ReceivedEvent[] => [
  ev('a.b.1', 'connect', { conn: 'a.1', ts: 0 }),
  ev('a.b.2', 'online', { conn: 'a.1', ts: 0 }),
  ev('f1', 'disconnect', { conn: 'a.1', code: 1006, reason, ts, node: 'b' }),
  ev('f2', 'offline', { conn: 'a.1', reason, ts, node: 'b' }),
];

test('webhooks: a crashed node: node-lost events within the bound pass; late or wrong ones fail', () => {
  assert.deepEqual(checkWebhookEvents(input(lost(1400), { crash: crash() })).violations, []);
  assert.match(details(checkWebhookEvents(input(lost(1600), { crash: crash() })).violations), /later than 500 ms: a\.1 disconnect after 600 ms/);
  assert.match(details(checkWebhookEvents(input(lost(1400, 'disconnected'), { crash: crash() })).violations), /offline reason "disconnected", expected "node lost"/);
  assert.match(details(checkWebhookEvents(input(lost(1400).slice(0, 3), { crash: crash() })).violations), /no offline after the crash/);
});

test('webhooks: facts the killed node made after its last event that arrived are excused (and listed), earlier ones are not', () => {
  // The node's last event that arrived was made at 900: it died before writing anything later
  // (but the user's offline, written with the presence change, is there).
  const events = [...lost(1400).slice(0, 2), ev('a.b.3', 'join', { conn: 'a.1', ts: 900 }), ev('f9', 'offline', { conn: 'a.1', ts: 940 })];
  const opts = (closedAt: number): Partial<EventCheckInput> => ({ crash: crash({ conns: [], orphans: [] }), conns: [{ tenant: 't1', user: 'ns.u', conn: 'a.1', node: 'a', at: 0, closedAt }] });
  const inWindow = checkWebhookEvents(input(events, opts(950)));
  assert.deepEqual(inWindow.violations, []);
  assert.equal(inWindow.crashWindowMs, 100);
  assert.match(inWindow.excused.join(' '), /a\.1: no disconnect/);
  assert.match(details(checkWebhookEvents(input(events, opts(500))).violations), /without a disconnect event: a\.1/);
});

test('webhooks: online/offline are never excused by the crash window (written with the presence change)', () => {
  // The user's online arrived, its offline did not: in the window or not, it fails.
  const events = [ev('a.b.1', 'connect', { conn: 'a.1', ts: 0 }), ev('a.b.2', 'online', { conn: 'a.1', ts: 0 }), ev('a.b.3', 'join', { conn: 'a.1', ts: 900 })];
  const r = checkWebhookEvents(input(events, { crash: crash({ conns: [], orphans: [] }), conns: [{ tenant: 't1', user: 'ns.u', conn: 'a.1', node: 'a', at: 0, closedAt: 950 }] }));
  assert.match(r.excused.join(' '), /a\.1: no disconnect/);
  assert.match(details(r.violations), /not offline at the end/);
});

test('webhooks: a killed workers node: its workers `<node>-w<i>` are its processes, each with its own crash window', () => {
  // Node a ran two workers; a-w1's last event that arrived was made at 900, a-w0's at 950: the window opens at 900.
  const events = [
    ev('a-w1.b.1', 'connect', { conn: 'a-w1.1', ts: 0 }),
    ev('a-w1.b.2', 'online', { conn: 'a-w1.1', ts: 0 }),
    ev('a-w1.b.3', 'join', { conn: 'a-w1.1', ts: 900 }),
    ev('a-w0.b.1', 'connect', { conn: 'a-w0.1', ts: 950, user: 'ns.v' }),
    ev('a-w10x.b.1', 'connect', { conn: 'x.1', ts: 990, user: 'ns.w' }),
  ];
  // a-w1.1 closed after a-w1's last written event: excused. a-w0.0 closed at 680, before a-w0's
  // window (950 − 250 ms): its missing disconnect fails although a-w1's window (900 − 250) covers 680.
  const conns = [
    { tenant: 't1', user: 'ns.u', conn: 'a-w1.1', node: 'a-w1', at: 0, closedAt: 920 },
    { tenant: 't1', user: 'ns.v', conn: 'a-w0.0', node: 'a-w0', at: 0, closedAt: 680 },
  ];
  const r = checkWebhookEvents(input(events, { crash: crash({ conns: [], orphans: [] }), conns, users: [] }));
  assert.equal(r.crashWindowMs, 100);
  assert.match(r.excused.join(' '), /a-w1\.1: no disconnect/);
  assert.doesNotMatch(details(r.violations), /a-w1\.1/);
  assert.match(details(r.violations), /without a disconnect event: [^|]*a-w0\.0/);
  assert.ok(processOf({ node: 'a' }, 'a-w0') && processOf({ node: 'a' }, 'a') && !processOf({ node: 'a' }, 'a-w10x') && !processOf({ node: 'a' }, 'ab'));
});

test('webhooks: a killed node whose missing facts lie further back than the accepted window fails; a quiet node that lost nothing passes', () => {
  const missing = { conns: [{ tenant: 't1', user: 'ns.u', conn: 'a.1', node: 'a', at: 0 }, { tenant: 't1', user: 'ns.u', conn: 'a.2', node: 'a', at: 990 }] };
  const v = checkWebhookEvents(input(lost(1400), { crash: crash({ maxWindowMs: 500 }), ...missing })).violations;
  assert.match(details(v), /last event that arrived was made 1000 ms before the kill and 1 later fact\(s\) are missing \(over 500 ms/);
  assert.deepEqual(checkWebhookEvents(input(lost(1400), { crash: crash({ maxWindowMs: 500 }) })).violations, []);
});

test('webhooks: unacked must fire once for a message nobody could ack, and not after an ack in time', () => {
  const w = { tenant: 't1', user: 'ns.u', seq: 3, message_id: 'm3', due: 5000 };
  const un = ev('u3', 'unacked', { seq: 3, message_id: 'm3' });
  assert.deepEqual(checkWebhookEvents(input([...life(), un], { unacked: [{ ...w, mustFire: true }] })).violations, []);
  assert.match(details(checkWebhookEvents(input(life(), { unacked: [{ ...w, mustFire: true }] })).violations), /nobody could ack without an unacked event: t1\/ns\.u#3/);
  const ackedEarly = ev('k3', 'acked', { seq: 3, message_id: 'm3', ts: 1000 });
  assert.match(details(checkWebhookEvents(input([...life(), ackedEarly, un], { unacked: [{ ...w, mustFire: false }] })).violations), /unacked although acked 4000 ms before the deadline/);
});

const att = (o: Partial<ConnectAttempt>): ConnectAttempt => ({ backend: 'healthy', banned: false, startedAt: 0, answeredAt: 100, welcome: true, ...o });

test('hooks: answered in bound with the documented outcomes passes', () => {
  const r = checkConnectAttempts([att({}), att({ banned: true, welcome: false, code: 4003 }), att({ backend: 'failing', welcome: false, code: 1013, reason: 'x (timeout)' }), att({ welcome: false, code: 1013, reason: 'authentication unavailable (breaker_open)' })], 1000);
  assert.deepEqual(r.violations, []);
  assert.equal(r.stats.breakerOpen, 1);
});

test('hooks: a late or missing answer fails', () => {
  assert.match(details(checkConnectAttempts([att({ answeredAt: 1500 })], 1000).violations), /not answered within 1000 ms: #0 1500 ms/);
  assert.match(details(checkConnectAttempts([att({ answeredAt: undefined, welcome: false })], 1000).violations), /#0 no answer/);
});

test('hooks: an admission while the hook fails, or a failure while it is healthy, fails', () => {
  assert.match(details(checkConnectAttempts([att({ backend: 'failing' })], 1000).violations), /backend failing\): welcome, expected 1013/);
  assert.match(details(checkConnectAttempts([att({ welcome: false, code: 1013, reason: 'authentication unavailable (timeout)' })], 1000).violations), /backend healthy\): close 1013/);
  assert.match(details(checkConnectAttempts([att({ banned: true })], 1000).violations), /banned\): welcome, expected 4003/);
});
