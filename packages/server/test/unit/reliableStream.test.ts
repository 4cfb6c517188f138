/** ReliableStream against a scripted engine: a failed inbox read is retried even when nothing new arrives. */
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { AckError, ReliableStream, type ReliableHost } from '../../src/delivery/reliableStream.js';
import { TimingWheel } from '../../src/runtime/timingWheel.js';
import { LifecycleEvents } from '../../src/events/lifecycle.js';
import type { InboxStore, InboxMessage, InboxRange } from '../../src/engine/types.js';
import type { EncodedFrame, ReliableEncodings } from '../../src/protocol/encodedFrame.js';
import type { StreamSink } from '../../src/delivery/reliableStream.js';

function setup(inbox: InboxMessage[], failReads: number) {
  let failures = failReads;
  let reads = 0;
  const engine = {
    async readAfter(_t: string, _u: string, after: number, limit: number): Promise<InboxRange> {
      reads++;
      if (failures > 0) {
        failures--;
        throw new Error('redis down');
      }
      return { messages: inbox.filter((m) => m.seq > after).slice(0, limit), tip: inbox.length, floor: 0 };
    },
    async setCursor(): Promise<void> {},
  } as unknown as InboxStore;
  const wheel = new TimingWheel(10, 64);
  const sent: number[] = [];
  const host: ReliableHost = {
    inbox: engine,
    wheel,
    settings: { ackTimeoutMs: 50, ackMaxAttempts: 5, maxInflight: 100, replayBatch: 10, retention: { maxMessages: 1000, maxAgeMs: 1e9 } },
    log: pino({ level: 'silent' }),
    // A frame is just its seq here: what the sink writes is what the test reads.
    encodings: { of: (m: InboxMessage) => ({ frameFor: () => Buffer.from(String(m.seq)) }) } as unknown as ReliableEncodings,
    events: new LifecycleEvents(),
  };
  const conn = { tenant: 't', user: 'u', device: 'd', id: 'c1', send: (f: EncodedFrame) => (sent.push(Number(f.frameFor(undefined).toString())), true), close: () => undefined } as unknown as StreamSink;
  return { stream: new ReliableStream(conn, host, 0), wheel, sent, reads: () => reads, failNext: (n: number) => (failures = n) };
}

const msgs = (n: number): InboxMessage[] => Array.from({ length: n }, (_, i) => ({ seq: i + 1, id: `m${i + 1}`, ts: 0, data: '1' }));

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

test('a replay whose inbox read failed is retried on the timer, without any new message arriving', async () => {
  const { stream, wheel, sent, reads } = setup(msgs(3), 1);
  stream.begin();
  await settle();
  assert.deepEqual(sent, [], 'the first read failed');
  assert.equal(reads(), 1);
  for (let i = 0; i < 6; i++) wheel.tick(); // past ackTimeoutMs
  await settle();
  assert.deepEqual(sent, [1, 2, 3]);
});

test('a live gap whose read failed is retried too', async () => {
  const inbox = msgs(5);
  const { stream, wheel, sent, failNext } = setup(inbox, 0);
  stream.begin();
  await settle();
  assert.deepEqual(sent, [1, 2, 3, 4, 5]);
  stream.ack(5);
  // Two messages appended; only the second's event arrives (the first's was lost), and the gap read fails.
  inbox.push({ seq: 6, id: 'm6', ts: 0, data: '1' }, { seq: 7, id: 'm7', ts: 0, data: '1' });
  failNext(1);
  stream.offer(inbox[6]!);
  await settle();
  assert.deepEqual(sent, [1, 2, 3, 4, 5]);
  for (let i = 0; i < 6; i++) wheel.tick();
  await settle();
  assert.deepEqual(sent, [1, 2, 3, 4, 5, 6, 7]);
});

/** Advances the clock and the wheel together, 10 ms (one tick of the test wheel) at a time. */
function clock(wheel: TimingWheel) {
  mock.timers.enable({ apis: ['Date'], now: 0 });
  return (ms: number): void => {
    for (let t = 0; t < ms; t += 10) {
      mock.timers.tick(10);
      wheel.tick();
    }
  };
}

test('a message written after all were acked is resent only after its own timeout, though the earlier timer still runs', async (t) => {
  t.after(() => mock.timers.reset());
  const inbox = msgs(1);
  const { stream, wheel, sent } = setup(inbox, 0);
  const advance = clock(wheel);
  stream.begin();
  await settle();
  assert.deepEqual(sent, [1]);
  stream.ack(1); // at 0 ms: nothing unacked
  advance(40);
  inbox.push({ seq: 2, id: 'm2', ts: 0, data: '1' });
  stream.offer(inbox[1]!); // at 40 ms: due at 90 ms
  advance(40);
  await settle();
  assert.deepEqual(sent, [1, 2], 'the timer set for message 1 (50 ms) fired before message 2 was due: no resend');
  advance(20);
  await settle();
  assert.deepEqual(sent, [1, 2, 2], 'resent once its 50 ms had passed');
});

test('a new message is resent after the ack timeout even when the timer left from a backoff would fire much later', async (t) => {
  t.after(() => mock.timers.reset());
  const inbox = msgs(1);
  const { stream, wheel, sent } = setup(inbox, 0);
  const advance = clock(wheel);
  stream.begin();
  await settle();
  advance(50);
  await settle();
  assert.deepEqual(sent, [1, 1], 'first resend at 50 ms; the next one would be 100 ms later');
  advance(10);
  stream.ack(1); // at 60 ms; the timer stays set for 150 ms
  inbox.push({ seq: 2, id: 'm2', ts: 0, data: '1' });
  stream.offer(inbox[1]!); // due at 110 ms
  advance(40);
  await settle();
  assert.deepEqual(sent, [1, 1, 2]);
  advance(10);
  await settle();
  assert.deepEqual(sent, [1, 1, 2, 2], 'resent 50 ms after it was written, with the timeout of a first attempt');
  advance(90);
  await settle();
  assert.deepEqual(sent, [1, 1, 2, 2], 'the next attempt waits twice as long');
  advance(10);
  await settle();
  assert.deepEqual(sent, [1, 1, 2, 2, 2]);
});

test('tryAck returns the refusal that ack throws, and a sync cursor store is written per ack without a promise', async () => {
  const { stream, sent } = setup(msgs(3), 0);
  stream.begin();
  await settle();
  assert.deepEqual(sent, [1, 2, 3]);
  assert.equal(stream.tryAck(4), 'ack 4 is beyond the last sent seq 3');
  assert.throws(() => stream.ack(4), (e: unknown) => e instanceof AckError && e.message === 'ack 4 is beyond the last sent seq 3');
  assert.equal(stream.tryAck(2), undefined);
  assert.equal(stream.tryAck(1), undefined, 'stale: harmless');
  assert.deepEqual(stream.position, { sent: 3, awaiting: 3, acked: 2 });

  // The memory engine's setCursorNow: called in tryAck (setCursor never), once per ack that moves.
  const writes: [string, string, string, number][] = [];
  const inbox = {
    readAfter: async (_t: string, _u: string, after: number, limit: number): Promise<InboxRange> => ({ messages: msgs(3).filter((m) => m.seq > after).slice(0, limit), tip: 3, floor: 0 }),
    setCursor: () => assert.fail('setCursor called'),
    setCursorNow: (t: string, u: string, d: string, seq: number) => void writes.push([t, u, d, seq]),
  } as unknown as InboxStore;
  const events = new LifecycleEvents();
  const acked: number[] = [];
  events.add({ acked: (_s, n) => void acked.push(n) });
  const host: ReliableHost = {
    inbox,
    wheel: new TimingWheel(10, 64),
    settings: { ackTimeoutMs: 50, ackMaxAttempts: 5, maxInflight: 100, replayBatch: 10, retention: { maxMessages: 1000, maxAgeMs: 1e9 } },
    log: pino({ level: 'silent' }),
    encodings: { of: () => ({ frameFor: () => Buffer.alloc(0) }) } as unknown as ReliableEncodings,
    events,
  };
  const s2 = new ReliableStream({ tenant: 't', user: 'u', device: 'd', id: 'c2', send: () => true, close: () => undefined } as unknown as StreamSink, host, 0);
  s2.begin();
  await settle();
  assert.equal(s2.tryAck(1), undefined);
  assert.equal(s2.tryAck(3), undefined);
  assert.equal(s2.tryAck(3), undefined);
  assert.deepEqual(writes, [['t', 'u', 'd', 1], ['t', 'u', 'd', 3]]);
  assert.deepEqual(acked, [1, 2], 'the acked event counts the messages each ack covered');
  await s2.flush();
});