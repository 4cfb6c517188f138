/** The ingest check fails on every outcome that breaks it (a check that cannot fail is a defect). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkIngest, ingestPublishRecords } from '../src/ingestInvariants.js';
import { checkDelivery } from '../src/invariants.js';
import type { DeadLetterRecord, IngestEntry, StoredEntry } from '../src/ingest/entries.js';
import { entryBody } from '../src/ingest/entries.js';
import type { DeviceRecording } from '../src/recording.js';

const entry = (id: string, o: Partial<IngestEntry> = {}): IngestEntry => ({ id, source: 'nats', fate: 'valid', pid: 100 + Number(id.replace(/\D/g, '')), tenant: 't1', users: ['u'], confirmed: true, sends: 1, ref: id.replace(/\D/g, ''), ...o });
const stored = (e: string | undefined, seq: number, o: Partial<StoredEntry> = {}): StoredEntry => ({ tenant: 't1', user: 'u', seq, entry: e, ...o });
const dead = (ref: string, reason: string, o: Partial<DeadLetterRecord> = {}): DeadLetterRecord => ({ source: 'nats', ref, reason, ...o });
const details = (v: { detail: string }[]): string => v.map((x) => x.detail).join(' | ');

const valid = [entry('e1'), entry('e2', { users: ['u', 'w'] }), entry('e3', { device: 'd1' })];
const poison = entry('e4', { fate: 'poison', reason: /^payload is not UTF-8$/, label: 'not UTF-8' });
const voided = entry('e5', { source: 'pg', fate: 'void', ref: '5' });
const entries = [...valid, poison, voided];
const goodStored = [stored('e1', 1), stored('e2', 2), stored('e2', 1, { user: 'w' }), stored('e3', 3, { device: 'd1' })];
const goodDead = [dead('4', 'payload is not UTF-8')];

test('the expected outcome passes', () => {
  assert.deepEqual(checkIngest(entries, goodStored, goodDead), []);
});

test('a confirmed entry never stored fails (for one of two target users too)', () => {
  assert.match(details(checkIngest(entries, goodStored.filter((s) => s.user !== 'w'), goodDead)), /never stored: e2→w/);
});

test('an unconfirmed entry may be missing, but not stored twice', () => {
  const unconfirmed = entries.map((e) => (e.id === 'e1' ? { ...e, confirmed: false } : e));
  assert.deepEqual(checkIngest(unconfirmed, goodStored.filter((s) => s.entry !== 'e1'), goodDead), []);
  assert.match(details(checkIngest(unconfirmed, [...goodStored, stored('e1', 9)], goodDead)), /several seqs\): e1→u ×2 \(seq 1\+9\)/);
});

test('an entry stored twice (two seqs) fails', () => {
  assert.match(details(checkIngest(entries, [...goodStored, stored('e3', 7, { device: 'd1' })], goodDead)), /more than once \(one entry, several seqs\): e3→u ×2/);
});

test('a poison or rolled-back entry that was stored fails', () => {
  const v = details(checkIngest(entries, [...goodStored, stored('e4', 8), stored('e5', 9)], goodDead));
  assert.match(v, /must never be stored were stored: e4 \(not UTF-8\) as u seq 8, e5 \(rolled back\)/);
});

test('a message stored for a user the entry does not target, with a wrong device, or foreign, fails', () => {
  assert.match(details(checkIngest(entries, [...goodStored, stored('e1', 4, { user: 'x' })], goodDead)), /user they do not target: e1 in t1\/x/);
  assert.match(details(checkIngest(entries, [stored('e1', 1), stored('e2', 2), stored('e2', 1, { user: 'w' }), stored('e3', 3)], goodDead)), /wrong device target: e3 stored for device \(all\), targets d1/);
  assert.match(details(checkIngest(entries, [...goodStored, stored(undefined, 5)], goodDead)), /no entry of this run: u seq 5/);
});

test('dead letters: missing, twice, wrong reason, of a valid entry, unknown — each fails', () => {
  assert.match(details(checkIngest(entries, goodStored, [])), /never dead-lettered: e4 \(not UTF-8\)/);
  const twice = checkIngest(entries, goodStored, [...goodDead, ...goodDead]);
  assert.match(details(twice), /dead-lettered more than once: e4 ×2/);
  assert.equal(twice[0]?.known, undefined, 'a NATS duplicate dead letter is a hard failure');
  assert.match(details(checkIngest(entries, goodStored, [dead('4', 'payload is not JSON: x')])), /wrong reason: e4 \(not UTF-8\): "payload is not JSON: x"/);
  assert.match(details(checkIngest(entries, goodStored, [...goodDead, dead('1', 'rejected (400): to: bad')])), /not poison were dead-lettered: e1 \(valid\)/);
  assert.match(details(checkIngest(entries, goodStored, [...goodDead, dead('5', 'x', { source: 'pg' })])), /not poison were dead-lettered: e5 \(void\)/);
  assert.match(details(checkIngest(entries, goodStored, [...goodDead, dead('77', 'x')])), /no entry of this run: nats 77/);
  // The same ref from another source is another entry.
  assert.match(details(checkIngest(entries, goodStored, [dead('4', 'payload is not UTF-8', { source: 'amqp' })])), /never dead-lettered: e4/);
});

test('publish records: stored valid entries are answered 200 with their inbox seqs, the rest 400; the delivery check then holds devices to them', () => {
  const recs = ingestPublishRecords(entries, goodStored, 0);
  assert.deepEqual(
    recs.map((r) => [r.pid, r.status, r.seq, r.device]),
    [
      [101, 200, { u: 1 }, undefined],
      [102, 200, { u: 2, w: 1 }, undefined],
      [103, 200, { u: 3 }, 'd1'],
      [104, 400, undefined, undefined],
      [105, 400, undefined, undefined],
    ],
  );
  const device = (seqs: [number, number][]): DeviceRecording => ({
    key: 't1/u/d1', tenant: 't1', user: 'u', device: 'd1', sinceIndex: 0,
    delivered: seqs.map(([seq, pid]) => ({ seq, pid, tenant: 't1', at: 0 })),
    ephemeral: [], unrecovered: 0, closeCodes: [], welcomes: 1, duplicatesDropped: 0,
  });
  assert.deepEqual(checkDelivery(recs, [device([[1, 101], [2, 102], [3, 103]])]), []);
  assert.match(details(checkDelivery(recs, [device([[1, 101], [3, 103]])])), /never delivered, seq 2/);
  assert.match(details(checkDelivery(recs, [device([[1, 101], [2, 102], [3, 103], [4, 104]])])), /refused publishes were delivered: publish 104/);
});

test('entryBody: one user, several users, one device; data names the publish, tenant and entry', () => {
  assert.deepEqual(entryBody(entry('e1')), { to: { user: 'u', tenant: 't1' }, data: { p: 101, t: 't1', e: 'e1', s: 'nats' } });
  assert.deepEqual(entryBody(entry('e2', { users: ['u', 'w'] })).to, { users: ['u', 'w'], tenant: 't1' });
  assert.deepEqual(entryBody(entry('e3', { device: 'd1' })).to, { user: 'u', tenant: 't1', device: 'd1' });
});

test('a RabbitMQ poison entry dead-lettered twice is a hard failure (amqp-dead-letter-twice is fixed: no known-issue tag)', () => {
  const amqp = entry('e6', { source: 'amqp', ref: 'e6', fate: 'poison', reason: /^payload is not JSON: /, label: 'not JSON' });
  const v = checkIngest([amqp], [], [dead('e6', 'payload is not JSON: x', { source: 'amqp' }), dead('e6', 'payload is not JSON: x', { source: 'amqp' })]);
  assert.equal(v.length, 1);
  assert.match(v[0]!.detail, /dead-lettered more than once: e6 ×2/);
  assert.equal(v[0]!.known, undefined);
});

test('repeats up to the nodes\' count of unconfirmed RabbitMQ dead letters are excused; one more fails, and other sources get no allowance', () => {
  const a = entry('e7', { source: 'amqp', ref: 'e7', fate: 'poison', reason: /^payload is not JSON: /, label: 'not JSON' });
  const b = entry('e8', { source: 'amqp', ref: 'e8', fate: 'poison', reason: /^payload is not JSON: /, label: 'not JSON' });
  const d = (ref: string): ReturnType<typeof dead> => dead(ref, 'payload is not JSON: x', { source: 'amqp' });
  const twice = [d('e7'), d('e7'), d('e8'), d('e8')];
  assert.deepEqual(checkIngest([a, b], [], twice, new Map([['amqp', 2]])), []);
  assert.match(details(checkIngest([a, b], [], twice, new Map([['amqp', 1]]))), /dead-lettered more than once: e8 ×2/);
  assert.match(details(checkIngest([a, b], [], twice, new Map([['nats', 5]]))), /dead-lettered more than once: e7 ×2, e8 ×2/);
});

test('a repeat whose copy was written by a node the scenario killed is excused (killed between confirm and mark); by a live node it fails', () => {
  const e = entry('e9', { source: 'amqp', ref: 'e9', fate: 'poison', reason: /^payload is not JSON: /, label: 'not JSON' });
  const copy = (node: string): ReturnType<typeof dead> => ({ ...dead('e9', 'payload is not JSON: x', { source: 'amqp' }), node });
  assert.deepEqual(checkIngest([e], [], [copy('stress-a'), copy('stress-b-w1')], new Map(), ['stress-a']), []);
  assert.deepEqual(checkIngest([e], [], [copy('stress-b-w0'), copy('stress-a')], new Map(), ['stress-b']), []);
  assert.match(details(checkIngest([e], [], [copy('stress-a'), copy('stress-b-w1')], new Map(), ['stress-c'])), /dead-lettered more than once: e9 ×2/);
  assert.match(details(checkIngest([e], [], [copy('stress-a'), copy('stress-a'), copy('stress-b-w1')], new Map(), [])), /e9 ×3/);
});
