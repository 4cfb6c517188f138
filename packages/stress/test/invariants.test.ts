/** Each invariant check fails on a recording that breaks it (a check that cannot fail is a defect). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDelivery, checkMemory, checkNodeLeaks, checkSubscriptions } from '../src/invariants.js';
import type { NodeHealth } from '../src/cluster.js';
import type { DeviceRecording, PublishRecord } from '../src/recording.js';

const pub = (pid: number, seq: number | undefined, o: Partial<PublishRecord> = {}): PublishRecord => ({
  pid,
  tenant: 't1',
  users: ['u'],
  status: seq === undefined ? 503 : 200,
  ...(seq === undefined ? {} : { seq: { u: seq } }),
  index: pid,
  ...o,
});
const dev = (seqs: [number, number][], o: Partial<DeviceRecording> = {}): DeviceRecording => ({
  key: 't1/u/d0',
  tenant: 't1',
  user: 'u',
  device: 'd0',
  sinceIndex: 0,
  delivered: seqs.map(([seq, pid]) => ({ seq, pid, tenant: 't1', at: 0 })),
  ephemeral: [],
  unrecovered: 0,
  closeCodes: [],
  welcomes: 1,
  duplicatesDropped: 0,
  ...o,
});
const pubs = [pub(1, 1), pub(2, 2), pub(3, 3)];
const details = (v: { detail: string }[]): string => v.map((x) => x.detail).join(' | ');

test('a complete, ordered recording passes', () => {
  assert.deepEqual(checkDelivery(pubs, [dev([[1, 1], [2, 2], [3, 3]])]), []);
});

test('a gap (acknowledged publish never delivered) fails', () => {
  const v = checkDelivery(pubs, [dev([[1, 1], [3, 3]])]);
  assert.match(details(v), /never delivered, seq 2/);
  assert.equal(checkDelivery(pubs, [dev([[1, 1], [3, 3]])], true).length, 1, 'missingOnly reports the gap');
});

test('a duplicate delivery to the app fails', () => {
  assert.match(details(checkDelivery(pubs, [dev([[1, 1], [2, 2], [2, 2], [3, 3]])])), /duplicate delivery to the app, seq 2/);
});

test('reordering fails', () => {
  assert.match(details(checkDelivery(pubs, [dev([[1, 1], [3, 3], [2, 2]])])), /out of order: 2 after 3/);
});

test('a seq other than the one the API returned fails', () => {
  assert.match(details(checkDelivery(pubs, [dev([[1, 1], [2, 3], [3, 2]])])), /seq differs from the API's answer/);
});

test("another user's, device's or tenant's message fails isolation", () => {
  const foreign = [...pubs, pub(4, 4, { users: ['other'] }), pub(5, 5, { device: 'd9' }), pub(6, 6, { tenant: 't2' })];
  for (const pid of [4, 5, 6]) {
    const v = checkDelivery(foreign, [dev([[1, 1], [2, 2], [3, 3], [10, pid]])]);
    assert.ok(v.some((x) => x.invariant === 'isolation'), `publish ${pid}: ${details(v)}`);
  }
  const wrongTenantEph = checkDelivery(pubs, [dev([[1, 1], [2, 2], [3, 3]], { ephemeral: [{ tenant: 't2', at: 0 }] })]);
  assert.match(details(wrongTenantEph), /another tenant/);
});

test('a refused (4xx) publish that is delivered fails; a 5xx one may or may not arrive', () => {
  const withErrors = [...pubs, pub(4, undefined, { status: 400 }), pub(5, undefined, { status: 503 }), pub(6, undefined, { status: 0 })];
  assert.match(details(checkDelivery(withErrors, [dev([[1, 1], [2, 2], [3, 3], [4, 4]])])), /refused publishes were delivered/);
  assert.deepEqual(checkDelivery(withErrors, [dev([[1, 1], [2, 2], [3, 3], [4, 5], [5, 6]])]), []);
  assert.deepEqual(checkDelivery(withErrors, [dev([[1, 1], [2, 2], [3, 3]])]), []);
});

test('publishes made before the device first connected are not owed; unknown and unrecovered fail', () => {
  assert.deepEqual(checkDelivery(pubs, [dev([[3, 3]], { sinceIndex: 3 })]), []);
  assert.match(details(checkDelivery(pubs, [dev([[1, 1], [2, 2], [3, 3], [4, 99]])])), /unknown publish 99/);
  assert.match(details(checkDelivery(pubs, [dev([[1, 1], [2, 2], [3, 3]], { unrecovered: 1 })])), /recovered:false/);
  assert.match(details(checkDelivery(pubs, [dev([], { sinceIndex: undefined })])), /never received a welcome/);
});

const health = (o: Partial<NodeHealth> = {}): NodeHealth => ({
  connections: 0,
  users: 0,
  rooms: 0,
  handles: 6,
  heapUsed: 20e6,
  rss: 90e6,
  engineUp: true,
  disconnectsByCode: {},
  limitRejections: {},
  loopLagP99: 0.01,
  openFds: 30,
  ...o,
});

test('leaked connections, users, rooms and handles fail', () => {
  const base = health();
  assert.deepEqual(checkNodeLeaks('n', base, health({ handles: 9 }), { handleSlack: 4 }), []);
  assert.equal(checkNodeLeaks('n', base, health({ connections: 1, users: 1, rooms: 2, handles: 40 }), { handleSlack: 4 }).length, 4);
});

test('subscriptions left behind or lost fail', () => {
  const base = { 'p:all:ch': 2 };
  assert.deepEqual(checkSubscriptions(base, { 'p:all:ch': 2 }), []);
  assert.match(details(checkSubscriptions(base, { 'p:all:ch': 2, 'p:u{t1:x}:ch': 1 })), /left behind: p:u\{t1:x\}:ch=1/);
  assert.match(details(checkSubscriptions(base, { 'p:all:ch': 1 })), /lost/);
});

test('memory above the bound after settling fails', () => {
  const b = { rssFactor: 1, rssSlackBytes: 100e6, heapSlackBytes: 30e6 };
  assert.deepEqual(checkMemory('n', health(), health({ rss: 180e6, heapUsed: 45e6 }), b), []);
  assert.equal(checkMemory('n', health(), health({ rss: 200e6, heapUsed: 60e6 }), b).length, 2);
  // A node of two workers sums two heaps: the heap slack is per heap.
  assert.deepEqual(checkMemory('w', health(), health({ rss: 180e6, heapUsed: 60e6 }), b, 2), []);
  assert.match(details(checkMemory('w', health(), health({ rss: 180e6, heapUsed: 95e6 }), b, 2)), /w: heap used [0-9.]+ MiB after settling/);
});
