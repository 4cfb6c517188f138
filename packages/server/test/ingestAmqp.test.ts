/**
 * RabbitMQ ingest against the shared broker (amqp://guest:guest@127.0.0.1:5672),
 * through real Herald nodes on the Redis engine: every entry stored and delivered
 * once across two consuming nodes; dead letters with the exact reason; transient
 * failures requeued after a delay; kill -9 of a consuming node mid-stream; the
 * broker connection cut and stalled through a TCP fault proxy. Unique queue
 * names and key prefixes per run; queues and keys deleted afterwards. The shared
 * broker is never restarted.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { connect as amqpConnect, type Channel, type ChannelModel, type GetMessage } from 'amqplib';
import type { Redis } from 'ioredis';
import type { HeraldNode } from '../src/node.js';
import type { HeraldConfigInput } from '../src/config/schema.js';
import type { RedisEngine } from '../src/engine/redis/redisEngine.js';
import { AmqpSource } from '../src/ingest/amqpSource.js';
import { RedisDeadMarks } from '../src/ingest/amqpDeadMarks.js';
import { createLogger } from '../src/observability/logger.js';
import { spawnRedisNode, api, connect, nodeFactory, publish, type Frame, type TestClient } from './helpers/harness.js';
import { deleteKeys, freePort, sharedRedis, testPrefix, waitFor } from './helpers/redisServer.js';
import { FaultProxy } from '../../stress/src/faultProxy.js';
import { Rng } from '../../stress/src/rng.js';

const AMQP_URL = process.env.HERALD_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const node = nodeFactory();
let redisUrl: string;
let redis: Redis;
let broker: ChannelModel;
let ch: Channel;
const prefixes: string[] = [];
const queues: string[] = [];
const clients: TestClient[] = [];
const children: ChildProcess[] = [];
const proxies: FaultProxy[] = [];

before(async () => {
  ({ url: redisUrl, client: redis } = await sharedRedis());
  broker = await amqpConnect(AMQP_URL);
  ch = await broker.createChannel();
});

after(async () => {
  for (const c of clients) c.close();
  for (const child of children) child.kill('SIGKILL');
  for (const p of proxies) await p.close();
  // Nodes are closed by nodeFactory's own after hook, registered first, so it ran already.
  for (const q of queues) {
    await ch.deleteQueue(q).catch(() => undefined);
    await ch.deleteQueue(`${q}.dead`).catch(() => undefined);
  }
  await broker.close();
  for (const p of prefixes) await deleteKeys(redis, p);
  redis.disconnect();
});

function names(): { prefix: string; queue: string } {
  const prefix = testPrefix();
  const queue = `herald.test.${randomBytes(5).toString('hex')}`;
  prefixes.push(prefix);
  queues.push(queue);
  return { prefix, queue };
}

function amqpNode(prefix: string, queue: string, extra: HeraldConfigInput = {}): Promise<HeraldNode> {
  return node({
    engine: 'redis',
    redisUrl,
    redisKeyPrefix: prefix,
    ingestEnabled: false,
    ingestAmqpUrl: AMQP_URL,
    ingestAmqpQueue: queue,
    ...extra,
  });
}

function source(n: HeraldNode): AmqpSource {
  const s = n.ingest.find((x) => x.kind === 'amqp');
  assert.ok(s, 'the node runs a RabbitMQ source');
  return s as AmqpSource;
}

/** Connects and waits until the node's subscriptions reached Redis, so deliveries from the other node reach it. */
async function device(n: HeraldNode, user: string): Promise<TestClient> {
  const c = await connect(n, user, { device: 'd' });
  clients.push(c);
  await (n.engine as RedisEngine).subscriptionsFlushed();
  return c;
}

function send(queue: string, body: unknown, messageId?: string): void {
  const content = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  ch.sendToQueue(queue, content, { persistent: true, ...(messageId !== undefined ? { messageId } : {}) });
}

async function queueDepth(queue: string): Promise<number> {
  return (await ch.checkQueue(queue)).messageCount;
}

async function drainDead(queue: string): Promise<GetMessage[]> {
  const out: GetMessage[] = [];
  for (;;) {
    const m = await ch.get(`${queue}.dead`, { noAck: true });
    if (m === false) return out;
    out.push(m);
  }
}

/** n → the seqs under which the device received entry n. */
function seqsByN(c: TestClient): Map<number, Set<number>> {
  const by = new Map<number, Set<number>>();
  for (const m of c.messages()) {
    const n = (m.data as { n?: unknown } | null)?.n;
    if (typeof n !== 'number') continue;
    if (!by.has(n)) by.set(n, new Set());
    by.get(n)!.add(m.seq as number);
  }
  return by;
}

/**
 * Every entry 0..N-1 arrived, each under exactly one seq, and the user's seqs are exactly 1..N (nothing stored
 * twice) — except entries listed in `exempt`, which may have been stored twice; returns those that were.
 */
function assertOncePerEntry(c: TestClient, N: number, exempt: ReadonlySet<number> = new Set()): number[] {
  const by = seqsByN(c);
  assert.equal(by.size, N, 'every entry delivered');
  const twice = [...by].filter(([, s]) => s.size !== 1).map(([n]) => n);
  assert.deepEqual(twice.filter((n) => !exempt.has(n)), [], 'entries stored more than once');
  const seqs = [...by.values()].flatMap((s) => [...s]).sort((a, b) => a - b);
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'the user\'s seqs have no gap');
  assert.equal(seqs.length, N + twice.length, 'one seq per entry, plus one per exempt double');
  return twice;
}

/** Idempotency keys under `prefix` claimed and not completed ('p'): publishes in progress. */
async function pendingClaims(prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}idem:*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) if ((await redis.get(k)) === 'p') out.push(k);
  } while (cursor !== '0');
  return out;
}

const withN = (f: Frame): boolean => f.type === 'message' && typeof (f.data as { n?: unknown } | null)?.n === 'number';

test('N entries through two nodes: each stored and delivered once; both nodes consume; /readyz and metrics list the source', { timeout: 60_000 }, async () => {
  const { prefix, queue } = names();
  const A = await amqpNode(prefix, queue, { ingestAmqpConcurrency: 4 });
  const B = await amqpNode(prefix, queue, { ingestAmqpConcurrency: 4 });
  await waitFor('both consuming', () => source(A).stats().connected && source(B).stats().connected);
  const dev = await device(A, 'olga');
  const N = 300;
  for (let n = 0; n < N; n++) send(queue, { to: { user: 'olga' }, data: { n } }, `m-${n}`);
  await dev.waitForCount(withN, N, 30_000, 'ingested messages');
  await waitFor('all acked', async () => source(A).stats().consumed + source(B).stats().consumed === N && (await queueDepth(queue)) === 0);
  assertOncePerEntry(dev, N);
  assert.ok(source(A).stats().consumed > 0 && source(B).stats().consumed > 0, 'RabbitMQ spread the entries over both nodes');

  const ready = await fetch(A.url + '/readyz').then((r) => r.json() as Promise<Record<string, unknown>>);
  assert.deepEqual(ready, { ready: true, engine: 'up', draining: false, ingest: [{ kind: 'amqp', name: queue, connected: true }] });
  const metrics = await fetch(A.url + '/metrics').then((r) => r.text());
  const labels = `kind="amqp",name="${queue}"`;
  assert.match(metrics, new RegExp(`herald_ingest_source_connected\\{[^}]*${labels}[^}]*\\} 1`));
  assert.match(metrics, new RegExp(`herald_ingest_source_consumed_total\\{[^}]*${labels}[^}]*\\} ${source(A).stats().consumed}`));
  const adminFeed = await api(A, 'GET', '/admin/api/stats');
  assert.deepEqual(
    (adminFeed.body.ingest as { kind: string; name: string; consumed: number }[]).map((x) => [x.kind, x.name, x.consumed]),
    [['amqp', queue, source(A).stats().consumed]],
  );
});

test('bad entries go to <queue>.dead with the exact reason in x-herald-reason, then are acked; good ones flow', { timeout: 60_000 }, async () => {
  const { prefix, queue } = names();
  const A = await amqpNode(prefix, queue, { ingestAmqpMaxBytes: 512 });
  await waitFor('consuming', () => source(A).stats().connected);
  const dev = await device(A, 'pia');
  const notJson = '{"to": {"user": "pia"}, data';
  const noData = { to: { user: 'pia' } };
  const unknownTarget = { to: { planet: 'mars' }, data: 1 };
  const big = { to: { user: 'pia' }, data: 'x'.repeat(600) };
  // What the HTTP API answers for the same bodies is the reason, word for word.
  const httpReason = async (b: unknown): Promise<string> => {
    const r = await publish(A, b);
    assert.equal(r.status, 400);
    return `rejected (400): ${(r.body.error as { message: string }).message}`;
  };
  let parseError = '';
  try {
    JSON.parse(notJson);
  } catch (err) {
    parseError = (err as Error).message;
  }
  const expected = new Map([
    ['not-json', `payload is not JSON: ${parseError}`],
    ['no-data', await httpReason(noData)],
    ['unknown-target', await httpReason(unknownTarget)],
    ['too-big', `body of ${Buffer.byteLength(JSON.stringify(big))} bytes is over the limit of 512 (ingestAmqpMaxBytes)`],
  ]);
  send(queue, notJson, 'not-json');
  send(queue, noData, 'no-data');
  send(queue, unknownTarget, 'unknown-target');
  send(queue, big, 'too-big');
  send(queue, { to: { user: 'pia' }, data: { n: 0 } }, 'good');
  await dev.waitFor(withN, 10_000, 'the good entry');
  // The device may see the good entry a moment before its ack: wait for the counters.
  await waitFor('four dead letters, one consumed, nothing left', async () => source(A).stats().deadLettered === 4 && source(A).stats().consumed === 1 && (await queueDepth(queue)) === 0);
  const dead = await drainDead(queue);
  assert.equal(dead.length, 4);
  const got = new Map(dead.map((m) => [String(m.properties.messageId), String(m.properties.headers?.['x-herald-reason'])]));
  assert.deepEqual(got, expected);
  // The dead letter keeps the body as it came.
  assert.equal(dead.find((m) => m.properties.messageId === 'not-json')!.content.toString(), notJson);
  assert.equal(source(A).stats().consumed, 1);
  // Not a poison loop: nothing came back.
  assert.equal(source(A).stats().redelivered, 0);
});

test('a transient failure (idempotency key in progress: 409) is requeued after the retry delay, not in a hot loop, then published once', { timeout: 60_000 }, async () => {
  const { prefix, queue } = names();
  const A = await amqpNode(prefix, queue, { ingestAmqpRetryDelayMs: 300 });
  await waitFor('consuming', () => source(A).stats().connected);
  const dev = await device(A, 'quinn');
  // Another publish with the same key is "in progress" until the claim is released.
  assert.deepEqual(await A.engine.idempotencyClaim('amqp:held', 60_000), { state: 'new' });
  const t0 = Date.now();
  send(queue, { to: { user: 'quinn' }, data: { n: 0 } }, 'held');
  await waitFor('redelivered twice', () => source(A).stats().redelivered >= 2, 10_000);
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 2 * 300, `two redeliveries took ${elapsed} ms: the delay is kept`);
  assert.ok(source(A).stats().redelivered <= Math.ceil(elapsed / 300) + 1, 'no hot loop');
  assert.equal(dev.messages().length, 0);
  await A.engine.idempotencyRelease('amqp:held');
  await dev.waitFor(withN, 10_000, 'the entry after the key was released');
  await waitFor('acked', async () => source(A).stats().consumed === 1 && (await queueDepth(queue)) === 0);
  assert.equal(source(A).stats().deadLettered, 0);
});

test('kill -9 of a consuming node mid-stream: nothing lost, nothing stored twice for entries with message_id', { timeout: 120_000 }, async (t) => {
  const { prefix, queue } = names();
  // A short lease: a claim the dead node left "in progress" frees its entry within a second (docs/ingest.md);
  // the keys themselves are remembered for the usual TTL, so a redelivery finds what the dead node stored.
  const common = { idempotencyLeaseMs: 1000 };
  const B = await amqpNode(prefix, queue, { ...common, ingestAmqpConcurrency: 4 });
  const port = await freePort();
  const child = spawnRedisNode({ redisUrl: redisUrl, prefix: prefix, port, nodeId: 'doomed', env: { HERALD_INGEST_ENABLED: 'false', HERALD_INGEST_AMQP_URL: AMQP_URL, HERALD_INGEST_AMQP_QUEUE: queue, HERALD_INGEST_AMQP_CONCURRENCY: '4', HERALD_IDEMPOTENCY_LEASE_MS: String(common.idempotencyLeaseMs) } });
  children.push(child);
  const exited = new Promise((r) => child.once('exit', r));
  const childUrl = `http://127.0.0.1:${port}`;
  await waitFor('child consuming', async () => {
    const r = await fetch(`${childUrl}/readyz`).catch(() => undefined);
    const body = r?.ok ? ((await r.json()) as { ingest?: { connected: boolean }[] }) : undefined;
    return body?.ingest?.[0]?.connected === true;
  }, 30_000);
  await waitFor('B consuming', () => source(B).stats().connected);
  const dev = await device(B, 'rosa');
  const N = 600;
  for (let n = 0; n < N; n++) send(queue, { to: { user: 'rosa' }, data: { n } }, `k-${n}`);
  // Mid-stream: some entries delivered, many still in the queue and in the two nodes' hands.
  await dev.waitForCount(withN, 100, 30_000, 'first entries');
  child.kill('SIGKILL');
  await exited;
  // Publishes the dead node had in progress (claimed, not completed), read before their claims expire.
  const inProgress = new Set((await pendingClaims(prefix)).map((k) => Number(/\{amqp%3Ak-(\d+)\}$/.exec(k)?.[1])));
  const beforeKill = dev.messages().length;
  assert.ok(beforeKill < N, 'killed mid-stream');
  await dev.waitForCount(withN, N, 60_000, 'every entry');
  await waitFor('queue empty, all acked', async () => (await queueDepth(queue)) === 0 && source(B).stats().consumed > 0);
  // Entries the dead node held unacked came back to B flagged redelivered.
  assert.ok(source(B).stats().redelivered > 0, 'B took over entries of the dead node');
  // Settled: nothing in the queue, nothing held by B, no claim left "in progress" (the dead node's expired
  // after one lease, and B published those entries). A second store, if any, happened before this point.
  await waitFor(
    'nothing left to publish',
    async () => (await queueDepth(queue)) === 0 && source(B).busy === 0 && (await pendingClaims(prefix)).length === 0,
    30_000,
  );
  await publish(B, { to: { user: 'rosa' }, data: { marker: true } });
  await dev.waitFor((f) => f.type === 'message' && (f.data as { marker?: boolean } | null)?.marker === true, 10_000, 'marker');
  // A node killed after storing a message but before completing its idempotency claim leaves the claim
  // "in progress"; when its lease lapses the redelivery runs again — and finds the message recorded with its
  // key by the append itself: nothing is stored twice, in-progress entries included.
  const doubled = assertOncePerEntry(dev, N);
  assert.deepEqual(doubled, []);
  t.diagnostic(`in progress at the kill: ${inProgress.size}; stored twice: ${doubled.length}`);
});

test('the broker connection cut, then stalled, through a TCP fault proxy: the source reconnects and consumption resumes with nothing lost or doubled', { timeout: 90_000 }, async () => {
  const { prefix, queue } = names();
  const u = new URL(AMQP_URL);
  const proxy = new FaultProxy('amqp', [{ host: u.hostname, port: Number(u.port || 5672) }], new Rng(17));
  proxies.push(proxy);
  await proxy.listen();
  const viaProxy = `amqp://${u.username}:${u.password}@127.0.0.1:${proxy.port}?heartbeat=1`;
  const A = await amqpNode(prefix, queue, { ingestAmqpUrl: viaProxy, ingestAmqpReconnectMaxMs: 500, ingestAmqpTimeoutMs: 1_000 });
  const src = source(A);
  await waitFor('consuming', () => src.stats().connected);
  const dev = await device(A, 'sam');
  let n = 0;
  const batch = (k: number): void => {
    for (const end = n + k; n < end; n++) send(queue, { to: { user: 'sam' }, data: { n } }, `p-${n}`);
  };
  batch(50);
  await dev.waitForCount(withN, 50, 10_000, 'before the cut');

  // 1. Cut: both sides reset, like a network failure.
  assert.ok(proxy.cut() >= 1);
  await waitFor('disconnected', () => !src.stats().connected, 10_000);
  batch(50);
  await waitFor('reconnected', () => src.stats().connected, 15_000);
  await dev.waitForCount(withN, 100, 15_000, 'after the cut');

  // 2. Stall: bytes held, nothing delivered; the heartbeat (1 s) notices, reconnects time out until released.
  proxy.stall(true);
  batch(50);
  await waitFor('heartbeat noticed the stall', () => !src.stats().connected, 15_000);
  proxy.stall(false);
  await waitFor('reconnected after the stall', () => src.stats().connected, 15_000);
  await dev.waitForCount(withN, 150, 15_000, 'after the stall');
  await waitFor('queue empty', async () => (await queueDepth(queue)) === 0);
  assertOncePerEntry(dev, 150);
  assert.ok(src.stats().lastError === undefined, 'the error is cleared once consuming again');
});

test('drain: stop() lets in-flight entries finish and acks them; the rest stays in the queue for other nodes', { timeout: 60_000 }, async () => {
  const { prefix, queue } = names();
  const A = await amqpNode(prefix, queue, { ingestAmqpPrefetch: 20 });
  await waitFor('consuming', () => source(A).stats().connected);
  const dev = await device(A, 'tess');
  const N = 200;
  for (let n = 0; n < N; n++) send(queue, { to: { user: 'tess' }, data: { n } }, `s-${n}`);
  await dev.waitForCount(withN, 10, 10_000, 'some entries');
  await source(A).stop();
  const consumed = source(A).stats().consumed;
  assert.equal(source(A).stats().connected, false);
  // Everything not acked is back in the queue: consumed + left = N, nothing in between.
  await waitFor('unacked entries back in the queue', async () => (await queueDepth(queue)) === N - consumed, 10_000);
  assert.ok(consumed < N);
});

test('a queue the business declared itself (a quorum queue) is consumed as it is, not redeclared', { timeout: 30_000 }, async () => {
  const { prefix, queue } = names();
  await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  const A = await amqpNode(prefix, queue);
  await waitFor('consuming', () => source(A).stats().connected, 10_000);
  const dev = await device(A, 'vera');
  send(queue, { to: { user: 'vera' }, data: { n: 0 } }, 'q-0');
  await dev.waitFor(withN, 10_000, 'the entry');
  await waitFor('acked, lag read', () => source(A).stats().consumed === 1 && source(A).stats().lag === 0);
  // The dead-letter queue did not exist: Herald declared it (classic, durable).
  assert.equal((await ch.checkQueue(`${queue}.dead`)).messageCount, 0);
});

test('a connection lost after the dead letter was confirmed and before the ack: the redelivered entry is acked, not dead-lettered twice (with and without message_id)', { timeout: 60_000 }, async () => {
  const { prefix, queue } = names();
  const u = new URL(AMQP_URL);
  const proxy = new FaultProxy('amqp', [{ host: u.hostname, port: Number(u.port || 5672) }], new Rng(23));
  proxies.push(proxy);
  await proxy.listen();
  // The real Redis marks; the first mark of each entry cuts the connection right after it is written, i.e. exactly
  // between the broker's confirm of the dead letter and the ack of the original.
  const marks = new RedisDeadMarks(redis, prefix, 2_000, 60_000, false);
  const cutAfter = new Set<string>();
  const src = new AmqpSource({
    url: `amqp://${u.username}:${u.password}@127.0.0.1:${proxy.port}?heartbeat=1`,
    queue,
    prefetch: 1,
    concurrency: 1,
    maxBytes: 1024,
    retryDelayMs: 50,
    timeoutMs: 2_000,
    reconnectMaxMs: 200,
    nodeId: 'dead-once',
    publish: () => Promise.resolve(),
    logger: createLogger(process.env.HERALD_LOG_LEVEL ?? 'silent'),
    deadMarks: {
      has: (k) => marks.has(k),
      mark: async (k) => {
        await marks.mark(k);
        if (!cutAfter.has(k)) {
          cutAfter.add(k);
          proxy.cut();
        }
      },
    },
  });
  await src.start();
  try {
    send(queue, 'not json, with id', 'poison-1');
    send(queue, 'not json, no id');
    await waitFor('both entries marked and redelivered', () => cutAfter.size === 2 && src.stats().redelivered >= 2, 20_000);
    await waitFor('queue empty', async () => (await queueDepth(queue)) === 0 && src.busy === 0, 20_000);
  } finally {
    await src.stop();
  }
  const dead = await drainDead(queue);
  assert.deepEqual(dead.map((m) => m.content.toString()).sort(), ['not json, no id', 'not json, with id'], 'each poison entry dead-lettered exactly once');
  assert.equal(await redis.exists(`${prefix}amqp-dead:${queue}:id:poison-1`), 1, 'the mark is keyed by message_id');
  assert.equal((await redis.keys(`${prefix}amqp-dead:${queue}:sha256:*`)).length, 1, 'an entry without message_id is keyed by its content hash');
});

test('a dead letter whose confirm is held by a stalled network: the connection is dropped (not nacked on the live channel), so the entry is dead-lettered once, not twice', { timeout: 60_000 }, async () => {
  const { queue } = names();
  const u = new URL(AMQP_URL);
  const proxy = new FaultProxy('amqp', [{ host: u.hostname, port: Number(u.port || 5672) }], new Rng(29));
  proxies.push(proxy);
  await proxy.listen();
  let rejected = 0;
  const src = new AmqpSource({
    // A long heartbeat: only the confirm timeout can notice the stall.
    url: `amqp://${u.username}:${u.password}@127.0.0.1:${proxy.port}?heartbeat=60`,
    queue,
    prefetch: 1,
    concurrency: 1,
    maxBytes: 1024,
    retryDelayMs: 50,
    timeoutMs: 1_000,
    reconnectMaxMs: 200,
    nodeId: 'stalled-confirm',
    // The pipeline refuses the entry (a 400: dead letter); the first time, the network stalls just before the dead letter is published.
    publish: () => {
      if (rejected++ === 0) proxy.stall(true);
      return Promise.reject(Object.assign(new Error('to: bad'), { status: 400 }));
    },
    logger: createLogger(process.env.HERALD_LOG_LEVEL ?? 'silent'),
  });
  await src.start();
  try {
    send(queue, { to: 1 }, 'refused-1');
    await waitFor('the unconfirmed dead letter counted', () => src.stats().deadLetterUnconfirmed === 1, 20_000);
    // Released after Herald gave up: a held publish would now reach the broker.
    proxy.stall(false);
    await waitFor('dead-lettered on the redelivery', () => src.stats().deadLettered === 1, 20_000);
    await waitFor('queue empty', async () => (await queueDepth(queue)) === 0 && src.busy === 0, 20_000);
  } finally {
    await src.stop();
  }
  const dead = await drainDead(queue);
  assert.equal(dead.length, 1, 'one dead letter');
  assert.equal(dead[0]!.properties.messageId, 'refused-1');
  assert.equal(rejected, 2, 'handled twice: once into the stall, once redelivered');
});
