/**
 * NATS JetStream ingest against the shared NATS server (127.0.0.1:4222) and
 * Herald nodes on the shared Redis: exactly-once across two nodes, dead
 * letters with their reasons, a consuming node killed -9 between store and
 * ack, a connection cut through the fault proxy, stop() and stats. Every
 * test uses its own stream and subjects and deletes them afterwards.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import type { Redis } from 'ioredis';
import type { HeraldNode } from '../../src/node.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { DEAD_REASON_HEADER, fromConfig, NatsSource, type NatsSourceOptions } from '../../src/ingest/natsSource.js';
import type { IngestPublish } from '../../src/ingest/source.js';
import { FaultProxy } from '../../../stress/src/faultProxy.js';
import { Rng } from '../../../stress/src/rng.js';
import { deleteKeys, sharedRedis, testPrefix, waitFor } from '../helpers/redisServer.js';
import { connect as wsConnect } from '../helpers/harness.js';
import { TENANT, entry, pipelineOf, range, redisNode, startIngestChild, stored } from '../helpers/ingestNodes.js';

const NATS_URL = process.env.HERALD_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const logger = createLogger(process.env.HERALD_LOG_LEVEL ?? 'silent');
const enc = new TextEncoder();

let nc: NatsConnection;
let jsm: JetStreamManager;
let admin: Redis;
const prefixes: string[] = [];
const streams: string[] = [];
const nodes: HeraldNode[] = [];
const sources: NatsSource[] = [];
const cleanups: (() => Promise<unknown> | unknown)[] = [];

before(async () => {
  nc = await connect({ servers: NATS_URL, timeout: 5_000 });
  jsm = await nc.jetstreamManager({ timeout: 5_000 });
  ({ client: admin } = await sharedRedis());
});

after(async () => {
  await Promise.all(sources.map((s) => s.stop().catch(() => {})));
  for (const c of cleanups) await c();
  await Promise.all(nodes.map((n) => n.close()));
  for (const s of streams) await jsm.streams.delete(s).catch(() => {});
  for (const p of prefixes) await deleteKeys(admin, p);
  await nc.drain();
  admin.disconnect();
});

interface Names {
  stream: string;
  subject: string;
  prefix: string;
}

function names(): Names {
  const id = randomBytes(5).toString('hex');
  const stream = `HERALD_TEST_${id}`;
  streams.push(stream, `${stream}_DEAD`);
  const prefix = testPrefix();
  prefixes.push(prefix);
  return { stream, subject: `herald.test.${id}`, prefix };
}

async function node(prefix: string): Promise<HeraldNode> {
  const n = await redisNode(prefix);
  nodes.push(n);
  return n;
}

async function source(n: Names, publish: IngestPublish, nodeId: string, extra: Partial<NatsSourceOptions> = {}): Promise<NatsSource> {
  const s = new NatsSource({
    url: NATS_URL,
    stream: n.stream,
    subject: n.subject,
    durable: 'herald',
    maxDeliver: 5,
    ackWaitMs: 2_000,
    batch: 16,
    concurrency: 1,
    retryDelayMs: 20,
    timeoutMs: 5_000,
    maxBodyBytes: 64 * 1024,
    maxJsonDepth: 32,
    publish,
    logger,
    nodeId,
    reconnectWaitMs: 100,
    ...extra,
  });
  sources.push(s);
  await s.start();
  return s;
}

async function produce(subject: string, bodies: (unknown | Uint8Array)[]): Promise<number[]> {
  const js = nc.jetstream({ timeout: 5_000 });
  const seqs: number[] = [];
  for (const b of bodies) {
    const data = b instanceof Uint8Array ? b : enc.encode(typeof b === 'string' ? b : JSON.stringify(b));
    seqs.push((await js.publish(subject, data)).seq);
  }
  return seqs;
}

async function streamMessages(stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.messages;
}

test('N entries through two nodes (one publishing 4 at once): each stored once (one seq per entry), delivered once, acked, stream emptied', { timeout: 60_000 }, async () => {
  const n = names();
  const [a, b] = [await node(n.prefix), await node(n.prefix)];
  const user = 'u-two-nodes';
  const client = await wsConnect(a, user, { tenant: TENANT });
  const sa = await source(n, pipelineOf(a), 'node-a');
  const sb = await source(n, pipelineOf(b), 'node-b', { concurrency: 4 }); // unordered, several at once
  const N = 200;
  await produce(n.subject, range(N).map((i) => entry(user, i)));
  await waitFor(`${N} consumed`, () => sa.stats().consumed + sb.stats().consumed === N, 30_000);
  const s = await stored(a, user);
  assert.deepEqual([...s.ns].sort((x, y) => x - y), range(N), 'every entry stored exactly once');
  assert.deepEqual(s.seqs, range(N).map((i) => i + 1), 'one seq per entry');
  assert.equal(s.tip, N);
  assert.ok(sa.stats().consumed > 0 && sb.stats().consumed > 0, `both nodes consumed (a=${sa.stats().consumed}, b=${sb.stats().consumed})`);
  await client.waitFor(() => client.frames.filter((f) => f.type === 'message').length >= N, 10_000, 'N messages on the device');
  const got = client.frames.filter((f) => f.type === 'message').map((f) => (f.data as { n: number }).n);
  assert.equal(got.length, N);
  assert.equal(new Set(got).size, N, 'each delivered once');
  await waitFor('stream emptied (work queue)', async () => (await streamMessages(n.stream)) === 0);
  assert.equal(sa.stats().deadLettered + sb.stats().deadLettered, 0);
  client.ws.close();
});

test('bad entries go to <subject>.dead with the exact reason and are terminated; good ones flow', { timeout: 60_000 }, async () => {
  const n = names();
  const a = await node(n.prefix);
  const user = 'u-dead';
  const inner = pipelineOf(a);
  let flakyCalls = 0;
  const publish: IngestPublish = async (body) => {
    if ((body as { data?: { flaky?: boolean } }).data?.flaky) {
      flakyCalls++;
      throw Object.assign(new Error('storage engine unavailable'), { status: 503 });
    }
    await inner(body);
  };
  const s = await source(n, publish, 'node-dead', { maxBodyBytes: 2_048, maxJsonDepth: 8, maxDeliver: 3 });
  const deep = '['.repeat(9) + ']'.repeat(9);
  const bad: [unknown, RegExp][] = [
    ['{not json', /^payload is not JSON: /],
    [new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /^payload is not UTF-8$/],
    [{ to: { user }, data: 'x'.repeat(3_000) }, /^payload too large: \d+ bytes \(max 2048\)$/],
    [`{"to":{"user":"${user}"},"data":${deep}}`, /^payload nests deeper than 8 levels$/],
    [{ to: { planet: 'mars' }, data: 1 }, /^rejected \(400\): to\./],
    [{ to: { user }, data: 1, colour: 'red' }, /^rejected \(400\): colour: unknown field$/],
    [[1, 2, 3], /^rejected \(400\): body: /],
    [entry(user, 99, { flaky: true }), /^delivered 3 times \(max 3\) without success; last error: storage engine unavailable$/],
  ];
  const seqs = await produce(n.subject, [...bad.map(([b]) => b), entry(user, 1)]);
  await waitFor('every bad entry dead-lettered', () => s.stats().deadLettered === bad.length, 30_000);
  await waitFor('the good one consumed', () => s.stats().consumed === 1);
  assert.deepEqual((await stored(a, user)).ns, [1]);
  assert.equal(flakyCalls, 3, 'a transient failure is retried up to max-deliver');
  assert.equal(s.deadStream, `${n.stream}_DEAD`);
  assert.equal(await streamMessages(s.deadStream), bad.length);
  const dead = new Map<number, { reason: string; data: Uint8Array }>();
  for (let seq = 1; seq <= bad.length; seq++) {
    const m = await jsm.streams.getMessage(s.deadStream, { seq });
    assert.equal(m.subject, `${n.subject}.dead`);
    dead.set(Number(m.header.get('Herald-Stream-Seq')), { reason: m.header.get(DEAD_REASON_HEADER), data: m.data });
  }
  bad.forEach(([body, reason], i) => {
    const d = dead.get(seqs[i]!);
    assert.ok(d, `entry ${i} (seq ${seqs[i]}) dead-lettered`);
    assert.match(d.reason, reason, `reason of entry ${i}`);
    const original = body instanceof Uint8Array ? body : enc.encode(typeof body === 'string' ? body : JSON.stringify(body));
    assert.deepEqual(Buffer.from(d.data), Buffer.from(original), `entry ${i} kept byte for byte`);
  });
  // Terminated or acked: nothing left in the work-queue stream, nothing redelivered.
  await waitFor('stream emptied', async () => (await streamMessages(n.stream)) === 0);
});

test('a node dying on the last allowed delivery: the max-deliveries advisory dead-letters the entry, it is not lost', { timeout: 30_000 }, async () => {
  const n = names();
  let held = 0;
  const dying = await source(n, async () => {
    held++;
    await new Promise(() => {}); // dies before it is done
  }, 'node-dying', { maxDeliver: 1, ackWaitMs: 1_000 });
  const [seq] = await produce(n.subject, [{ to: { user: 'x' }, data: 'last chance' }]);
  await waitFor('entry held by the dying node', () => held === 1);
  dying.destroy();
  const s = await source(n, async () => assert.fail('an entry past max-deliver must not be delivered'), 'node-heir', { maxDeliver: 1, ackWaitMs: 1_000 });
  await waitFor('dead-lettered from the advisory', () => s.stats().deadLettered === 1, 15_000);
  const m = await jsm.streams.getMessage(s.deadStream, { seq: 1 });
  assert.equal(m.header.get(DEAD_REASON_HEADER), 'delivered 1 times (max 1) without being acknowledged');
  assert.equal(m.header.get('Herald-Stream-Seq'), String(seq));
  assert.deepEqual(m.json(), { to: { user: 'x' }, data: 'last chance' });
  await waitFor('removed from the stream', async () => (await streamMessages(n.stream)) === 0);
});

test('the dead-letter stream Herald creates is capped (ingestNatsDeadMaxMessages): the oldest go', { timeout: 30_000 }, async () => {
  const n = names();
  const s = await source(n, async () => {}, 'node-cap', { deadMaxMessages: 3 });
  await produce(n.subject, range(5).map((i) => `not json ${i}`));
  await waitFor('five dead-lettered', () => s.stats().deadLettered === 5);
  const info = await jsm.streams.info(s.deadStream);
  assert.equal(info.state.messages, 3);
  assert.equal(info.state.first_seq, 3, 'the two oldest were discarded');
});

test('409 from the pipeline is retried (nak with delay), not dead-lettered', { timeout: 30_000 }, async () => {
  const n = names();
  let calls = 0;
  const s = await source(n, async () => {
    calls++;
    if (calls === 1) throw Object.assign(new Error('in progress'), { status: 409 });
    if (calls === 2) throw Object.assign(new Error('slow down'), { status: 429 });
  }, 'node-409');
  await produce(n.subject, [{ to: { user: 'x' }, data: 1 }]);
  await waitFor('third attempt acked', () => s.stats().consumed === 1);
  assert.equal(calls, 3);
  assert.equal(s.stats().deadLettered, 0);
  assert.equal(s.stats().redelivered, 2);
});

test('the stream sequence is the default idempotency key; a body key wins', { timeout: 30_000 }, async () => {
  const n = names();
  const keys: unknown[] = [];
  const s = await source(n, async (body) => void keys.push((body as { idempotency_key?: unknown }).idempotency_key), 'node-keys');
  const [seq] = await produce(n.subject, [{ to: { user: 'x' }, data: 1 }, { to: { user: 'x' }, data: 2, idempotency_key: 'mine' }]);
  await waitFor('both consumed', () => s.stats().consumed === 2);
  assert.deepEqual(keys, [`nats:${n.stream}:${seq}`, 'mine']);
});

test('kill -9 of a consuming node between store and ack: nothing lost, nothing stored twice', { timeout: 90_000 }, async () => {
  const n = names();
  const survivorNode = await node(n.prefix);
  const user = 'u-kill';
  const N = 60;
  const K = 20;
  const child = startIngestChild('nats', n.prefix, { ingestNatsUrl: NATS_URL, ingestNatsStream: n.stream, ingestNatsSubject: n.subject, ingestNatsAckWaitMs: 1_500, ingestNatsBatch: 16 }, K);
  cleanups.push(() => child.kill9());
  await child.waitForLine('ready');
  await produce(n.subject, range(N).map((i) => entry(user, i)));
  await child.waitForLine('stored');
  await child.kill9();
  // Entry K-1 is stored but was never acked; the child also held a pulled batch.
  assert.equal((await stored(survivorNode, user)).ns.length, K);
  const s = await source(n, pipelineOf(survivorNode), 'survivor', { ackWaitMs: 1_500 });
  await waitFor('the rest consumed', async () => (await streamMessages(n.stream)) === 0, 30_000);
  const st = await stored(survivorNode, user);
  assert.deepEqual([...st.ns].sort((x, y) => x - y), range(N), 'nothing lost, nothing doubled');
  assert.equal(st.tip, N, 'one seq per entry');
  assert.ok(s.stats().redelivered >= 1, 'the unacked entries came back as redeliveries');
  // The stored-but-unacked entry was published again and hit its idempotency key.
  assert.equal(s.stats().consumed, N - K + 1);
});

test('the connection cut through a fault proxy (and refused meanwhile): consumption resumes', { timeout: 60_000 }, async () => {
  const n = names();
  const a = await node(n.prefix);
  const user = 'u-cut';
  const proxy = new FaultProxy('nats', [{ host: '127.0.0.1', port: Number(new URL(NATS_URL).port || 4222) }], new Rng(17));
  await proxy.listen();
  cleanups.push(() => proxy.close());
  const s = await source(n, pipelineOf(a), 'node-cut', { url: `nats://${proxy.url}` });
  await produce(n.subject, range(20).map((i) => entry(user, i)));
  await waitFor('first half consumed', () => s.stats().consumed === 20);
  proxy.setRefuse(true);
  proxy.cut();
  await waitFor('disconnect seen', () => !s.stats().connected);
  await produce(n.subject, range(20).map((i) => entry(user, 20 + i)));
  proxy.setRefuse(false);
  await waitFor('reconnected', () => s.stats().connected, 20_000);
  await waitFor('second half consumed', () => s.stats().consumed === 40, 30_000);
  const st = await stored(a, user);
  assert.deepEqual([...st.ns].sort((x, y) => x - y), range(40));
  assert.equal(st.tip, 40);
  assert.match(s.stats().lastError ?? '', /disconnected/);
});

test('a stalled connection (black hole) is given up on and replaced; consumption resumes after the stall', { timeout: 60_000 }, async () => {
  const n = names();
  const a = await node(n.prefix);
  const user = 'u-stall';
  const proxy = new FaultProxy('nats-stall', [{ host: '127.0.0.1', port: Number(new URL(NATS_URL).port || 4222) }], new Rng(18));
  await proxy.listen();
  cleanups.push(() => proxy.close());
  // timeoutMs 1 s: pings every 500 ms, two unanswered ones make the connection stale.
  const s = await source(n, pipelineOf(a), 'node-stall', { url: `nats://${proxy.url}`, timeoutMs: 1_000 });
  await produce(n.subject, range(10).map((i) => entry(user, i)));
  await waitFor('first part consumed', () => s.stats().consumed === 10);
  proxy.stall(true);
  await waitFor('stale connection noticed', () => !s.stats().connected, 20_000);
  await produce(n.subject, range(10).map((i) => entry(user, 10 + i)));
  proxy.stall(false);
  await waitFor('the rest consumed', () => s.stats().consumed === 20, 30_000);
  const st = await stored(a, user);
  assert.deepEqual([...st.ns].sort((x, y) => x - y), range(20));
  assert.equal(st.tip, 20);
});

test('stop() lets the entry being published finish and be acked, and returns the pulled rest to the stream', { timeout: 30_000 }, async () => {
  const n = names();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started = 0;
  const s = await source(n, async () => {
    started++;
    await gate;
  }, 'node-stop', { batch: 8, ackWaitMs: 3_000 });
  await produce(n.subject, range(5).map((i) => ({ to: { user: 'x' }, data: i })));
  await waitFor('first entry in the pipeline', () => started === 1);
  let stopped = false;
  const stopping = s.stop().then(() => (stopped = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(stopped, false, 'stop waits for the entry in flight');
  release();
  await stopping;
  assert.equal(s.stats().consumed, 1);
  assert.equal(started, 1, 'no new entry taken after stop');
  // The four pulled-but-unstarted entries go back to the stream: nak'ed at once when the pull loop
  // still holds them, else (still in the client library's buffer when the pull stopped) after ack_wait.
  // Either way another consumer gets each of them, once.
  let got = 0;
  const other = await source(n, async () => void got++, 'node-next', { ackWaitMs: 3_000 });
  await waitFor('the rest consumed elsewhere', () => other.stats().consumed === 4, 15_000);
  assert.equal(got, 4);
});

test('stats: connected, lag, lastError; an existing consumer is updated to the configured max-deliver and ack-wait', { timeout: 30_000 }, async () => {
  const n = names();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const s = await source(n, () => gate, 'node-stats', { batch: 1, maxDeliver: 4, lagRefreshMs: 100 });
  assert.equal(s.stats().connected, true);
  await produce(n.subject, range(3).map((i) => ({ to: { user: 'x' }, data: i })));
  await waitFor('lag reported', () => (s.stats().lag ?? 0) >= 1);
  release();
  await waitFor('all consumed', () => s.stats().consumed === 3);
  await s.stop();
  assert.equal(s.stats().connected, false);
  const s2 = await source(n, async () => {}, 'node-stats-2', { maxDeliver: 7, ackWaitMs: 9_000 });
  const info = await jsm.consumers.info(n.stream, 'herald');
  assert.equal(info.config.max_deliver, 7);
  assert.equal(info.config.ack_wait, 9_000 * 1_000_000);
  await s2.stop();
});

test('config: env names, defaults, fromConfig undefined without a URL, wildcard subjects refused', () => {
  const c = loadConfig({ env: { HERALD_INGEST_NATS_URL: 'nats://127.0.0.1:4222', HERALD_INGEST_NATS_MAX_DELIVER: '3' } });
  assert.equal(c.ingestNatsUrl, 'nats://127.0.0.1:4222');
  assert.equal(c.ingestNatsStream, 'HERALD_INGEST');
  assert.equal(c.ingestNatsSubject, 'herald.ingest');
  assert.equal(c.ingestNatsMaxDeliver, 3);
  const s = fromConfig(c, async () => {}, logger, 'n1');
  assert.equal(s?.kind, 'nats');
  assert.equal(s?.name, 'HERALD_INGEST/herald.ingest');
  assert.equal(fromConfig(loadConfig({}), async () => {}, logger, 'n1'), undefined);
  assert.throws(() => loadConfig({ env: { HERALD_INGEST_NATS_SUBJECT: 'herald.>' } }), /INGEST_NATS_SUBJECT|ingestNatsSubject/);
  assert.throws(() => loadConfig({ env: { HERALD_INGEST_NATS_STREAM: 'a.b' } }), /INGEST_NATS_STREAM|ingestNatsStream/);
  assert.throws(() => loadConfig({ env: { HERALD_INGEST_NATS_URL: 'http://x' } }), /INGEST_NATS_URL|ingestNatsUrl/);
});
