/** The room and awareness checks fail on recordings that break them (a check that cannot fail is a defect). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAwareness, checkRoomDelivery, type RoomEvent, type RoomMemberRecording, type RoomPublishRecord } from '../src/roomInvariants.js';

const ROOM = 'r1';
/** Publishes 1..n answered with offsets 1..n (pid = offset). */
const pubs = (n: number, o: Partial<RoomPublishRecord> = {}): RoomPublishRecord[] => Array.from({ length: n }, (_, i) => ({ pid: i + 1, tenant: 't1', room: ROOM, status: 200, offset: i + 1, epoch: 'e1', ...o }));
const msg = (offset: number, pid = offset, room = ROOM): RoomEvent => ({ k: 'msg', offset, pid, room });
const join = (offset: number): RoomEvent => ({ k: 'join', offset, epoch: 'e1' });
const member = (events: RoomEvent[]): RoomMemberRecording => ({ key: 't1/u/d0', tenant: 't1', room: ROOM, events });

test('rooms: every offset after the join, once, in order: no violation', () => {
  assert.deepEqual(checkRoomDelivery(pubs(5), [member([join(1), msg(2), msg(3), msg(4), msg(5)])]), []);
});

test('rooms: a silent gap is reported (the check can fail)', () => {
  const v = checkRoomDelivery(pubs(5), [member([join(0), msg(1), msg(2), msg(4), msg(5)])]);
  assert.equal(v.length, 1);
  assert.match(v[0]?.detail ?? '', /silent gap.*offsets 3 missing/);
});

test('rooms: a gap right after roomUnrecovered is allowed (the member was told)', () => {
  const events: RoomEvent[] = [join(0), msg(1), msg(2), { k: 'unrecovered', offset: 4, epoch: 'e1' }, msg(5)];
  assert.deepEqual(checkRoomDelivery(pubs(5), [member(events)]), []);
});

test('rooms: messages that never arrived at the tail are reported, also for an unanswered publish that was stored', () => {
  const p = pubs(4);
  // publish 5 had no answer, yet another member saw it as offset 5: it is owed to everyone.
  p.push({ pid: 5, tenant: 't1', room: ROOM, status: 0 });
  const other = { ...member([join(0), msg(1), msg(2), msg(3), msg(4), msg(5)]), key: 't1/v/d0' };
  const v = checkRoomDelivery(p, [member([join(0), msg(1), msg(2), msg(3)]), other]);
  assert.equal(v.length, 1);
  assert.match(v[0]?.detail ?? '', /t1\/u\/d0.*4–5 \(never arrived\)/);
  assert.equal(checkRoomDelivery(p, [member([join(0), msg(1), msg(2), msg(3)]), other], true).length, 1);
});

test('rooms: a duplicate and a reordering are reported', () => {
  assert.match(checkRoomDelivery(pubs(3), [member([join(0), msg(1), msg(2), msg(2), msg(3)])])[0]?.detail ?? '', /twice.*2/);
  assert.match(checkRoomDelivery(pubs(3), [member([join(0), msg(1), msg(3), msg(2)])]).map((x) => x.detail).join('\n'), /out of order: 2 after 3/);
});

test('rooms: live messages that overtook the join reply must follow it without a gap', () => {
  assert.deepEqual(checkRoomDelivery(pubs(4), [member([msg(3), msg(4), join(2)])]), []);
  const v = checkRoomDelivery(pubs(4), [member([msg(4), join(2)])]);
  assert.match(v[0]?.detail ?? '', /silent gap.*3/);
});

test('rooms: a message of another room, or with an offset other than its answer, is reported', () => {
  const v = checkRoomDelivery(pubs(2), [member([join(0), msg(1), msg(2, 1)])]);
  assert.match(v.map((x) => x.detail).join('\n'), /answered offset 1, delivered 2/);
  const w = checkRoomDelivery([...pubs(2), { pid: 9, tenant: 't2', room: ROOM, status: 200, offset: 1 }], [member([join(0), msg(1), msg(2, 9)])]);
  assert.ok(w.some((x) => x.invariant === 'isolation'));
});

test('rooms: a member without a join reply is reported', () => {
  assert.match(checkRoomDelivery(pubs(1), [member([msg(1)])])[0]?.detail ?? '', /no join reply/);
});

test('awareness: a state still shown after its member\u2019s node died, or a cleared new state, is reported', () => {
  const truth = new Map<string, unknown>([
    ['dead', null],
    ['back', { v: 2 }],
    ['live', { v: 1 }],
  ]);
  const good = new Map<string, unknown>([
    ['dead', null],
    ['back', { v: 2 }],
    ['live', { v: 1 }],
  ]);
  assert.deepEqual(checkAwareness('r', truth, new Map([['viewer', good]])), []);
  // never having seen a cleared state is fine too
  assert.deepEqual(checkAwareness('r', truth, new Map([['viewer', new Map<string, unknown>([['back', { v: 2 }], ['live', { v: 1 }]])]])), []);
  const stale = new Map<string, unknown>([...good, ['dead', { v: 1 }]]);
  assert.match(checkAwareness('r', truth, new Map([['viewer', stale]]))[0]?.detail ?? '', /dead: shows \{"v":1\}, is null/);
  const wiped = new Map<string, unknown>([...good, ['back', null]]);
  assert.match(checkAwareness('r', truth, new Map([['viewer', wiped]]))[0]?.detail ?? '', /back: shows null, is \{"v":2\}/);
});
