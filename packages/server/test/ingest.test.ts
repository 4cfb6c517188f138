/**
 * StreamIngest against the shared Redis: exactly-once across two consumers,
 * takeover of a dead consumer's entry, dead-lettering, graceful stop.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { StreamIngest, type IngestHandler, type StreamIngestOptions } from '../src/ingest/streamIngest.js';
import { createLogger } from '../src/observability/logger.js';
import { deleteKeys, sharedRedis, testPrefix, waitFor } from './helpers/redisServer.js';

const logger = createLogger(process.env.HERALD_LOG_LEVEL ?? 'silent');
let url: string;
let admin: Redis;
const prefixes: string[] = [];
const running: StreamIngest[] = [];

before(async () => {
  ({ url, client: admin } = await sharedRedis());
});

after(async () => {
  await Promise.all(running.map((i) => i.stop().catch(() => {})));
  for (const p of prefixes) await deleteKeys(admin, p);
  admin.disconnect();
});

function newPrefix(): string {
  const p = testPrefix();
  prefixes.push(p);
  return p;
}

async function ingest(prefix: string, consumer: string, handler: IngestHandler, extra: Partial<StreamIngestOptions> = {}): Promise<StreamIngest> {
  const i = new StreamIngest({ url, keyPrefix: prefix, consumer, handler, logger, blockMs: 200, ...extra });
  running.push(i);
  await i.start();
  return i;
}

async function pending(stream: string): Promise<number> {
  const r = (await admin.xpending(stream, 'herald')) as [number, ...unknown[]];
  return Number(r[0]);
}

type DeadEntry = Record<string, string>;
async function deadEntries(stream: string): Promise<DeadEntry[]> {
  const entries = (await admin.xrange(stream, '-', '+')) as [string, string[]][];
  return entries.map(([, f]) => Object.fromEntries(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i]!, f[2 * i + 1]!])));
}

test('two consumers handle every one of N entries exactly once, and ack them all', async () => {
  const prefix = newPrefix();
  const stream = `${prefix}ingest`;
  const seen: { n: number; by: string }[] = [];
  const handler = (by: string): IngestHandler => async (body) => {
    seen.push({ n: (body as { n: number }).n, by });
  };
  const a = await ingest(prefix, 'node-a', handler('a'));
  const b = await ingest(prefix, 'node-b', handler('b'));
  const N = 500;
  for (let n = 0; n < N; n += 50) {
    const p = admin.pipeline();
    for (let k = n; k < n + 50; k++) p.xadd(stream, '*', 'payload', JSON.stringify({ n: k }));
    await p.exec();
  }
  await waitFor(`${N} entries handled`, () => seen.length >= N, 20_000);
  await waitFor('no entry pending', async () => (await pending(stream)) === 0);
  const ns = seen.map((s) => s.n).sort((x, y) => x - y);
  assert.deepEqual(ns, Array.from({ length: N }, (_, i) => i), 'each entry exactly once');
  assert.equal(a.handled + b.handled, N);
});

test('entries added before the first node started are consumed too', async () => {
  const prefix = newPrefix();
  const stream = `${prefix}ingest`;
  await admin.xadd(stream, '*', 'payload', '{"early":true}');
  const got: unknown[] = [];
  await ingest(prefix, 'late', async (body) => void got.push(body));
  await waitFor('early entry', () => got.length === 1);
  assert.deepEqual(got, [{ early: true }]);
});

test('a consumer that dies mid-entry has the entry claimed by another, which acks it', async () => {
  const prefix = newPrefix();
  const stream = `${prefix}ingest`;
  let startedOnA = false;
  const a = await ingest(prefix, 'dying', async () => {
    startedOnA = true;
    await new Promise(() => {}); // never finishes: the process is about to die
  });
  await admin.xadd(stream, '*', 'payload', '{"job":1}');
  await waitFor('a to start the entry', () => startedOnA);
  a.destroy();
  const onB: { body: unknown; deliveries: number }[] = [];
  await ingest(prefix, 'survivor', async (body, e) => void onB.push({ body, deliveries: e.deliveries }), { claimIdleMs: 300, claimIntervalMs: 100 });
  await waitFor('b to claim and handle the entry', () => onB.length === 1, 10_000);
  assert.deepEqual(onB, [{ body: { job: 1 }, deliveries: 2 }]);
  await waitFor('entry acked', async () => (await pending(stream)) === 0);
});

test('a consumer restarted under the same name first finishes what it had read', async () => {
  const prefix = newPrefix();
  const stream = `${prefix}ingest`;
  let started = false;
  const a = await ingest(prefix, 'phoenix', async () => {
    started = true;
    await new Promise(() => {});
  });
  await admin.xadd(stream, '*', 'payload', '{"job":"again"}');
  await waitFor('first life starts the entry', () => started);
  a.destroy();
  const got: unknown[] = [];
  // claimIdleMs is long: only the own-pending read at start can pick the entry up.
  await ingest(prefix, 'phoenix', async (body) => void got.push(body), { claimIdleMs: 600_000 });
  await waitFor('second life handles it', () => got.length === 1);
  assert.deepEqual(got, [{ job: 'again' }]);
  await waitFor('entry acked', async () => (await pending(stream)) === 0);
});

test('poison entries go to the dead-letter stream with the reason; good ones still flow', async () => {
  const prefix = newPrefix();
  const stream = `${prefix}ingest`;
  const good: unknown[] = [];
  let transientCalls = 0;
  const i = await ingest(
    prefix,
    'poison',
    async (body) => {
      const b = body as { kind: string };
      if (b.kind === 'bad') throw Object.assign(new Error('to: is required'), { status: 400 });
      if (b.kind === 'busy') {
        transientCalls++;
        throw Object.assign(new Error('idempotency key in progress'), { status: 409 });
      }
      if (b.kind === 'flaky') {
        transientCalls++;
        throw new Error('redis down');
      }
      good.push(body);
    },
    { claimIdleMs: 100, claimIntervalMs: 50, maxDeliveries: 3 },
  );
  const idNotJson = await admin.xadd(stream, '*', 'payload', '{not json');
  const idNoPayload = await admin.xadd(stream, '*', 'other', 'x');
  const idBad = await admin.xadd(stream, '*', 'payload', '{"kind":"bad"}');
  const idFlaky = await admin.xadd(stream, '*', 'payload', '{"kind":"flaky"}');
  await admin.xadd(stream, '*', 'payload', '{"kind":"good"}');
  await waitFor('four dead letters', async () => (await admin.xlen(i.deadStream)) === 4, 10_000);
  await waitFor('nothing pending', async () => (await pending(stream)) === 0);
  assert.deepEqual(good, [{ kind: 'good' }]);
  const dead = await deadEntries(i.deadStream);
  const byId = new Map(dead.map((d) => [d.id, d]));
  assert.equal(byId.get(idNotJson!)?.payload, '{not json');
  assert.match(byId.get(idNotJson!)!.reason!, /not JSON/);
  assert.equal(byId.get(idNoPayload!)?.payload, '');
  assert.match(byId.get(idNoPayload!)!.reason!, /no payload/);
  assert.match(byId.get(idBad!)!.reason!, /rejected \(400\): to: is required/);
  assert.equal(byId.get(idBad!)?.payload, '{"kind":"bad"}');
  // Transient failures are retried, then given up on.
  assert.match(byId.get(idFlaky!)!.reason!, /delivered 4 times \(max 3\)/);
  assert.equal(transientCalls, 3);
  assert.equal(i.deadLettered, 4);
});

test('409/429 from the handler are retried, not dead-lettered', async () => {
  const prefix = newPrefix();
  const stream = `${prefix}ingest`;
  let calls = 0;
  const i = await ingest(
    prefix,
    'retry',
    async () => {
      calls++;
      if (calls === 1) throw Object.assign(new Error('busy'), { status: 409 });
      if (calls === 2) throw Object.assign(new Error('slow down'), { status: 429 });
    },
    { claimIdleMs: 100, claimIntervalMs: 50, maxDeliveries: 5 },
  );
  await admin.xadd(stream, '*', 'payload', '{}');
  await waitFor('third attempt succeeds', () => i.handled === 1, 10_000);
  assert.equal(calls, 3);
  assert.equal(await admin.exists(i.deadStream), 0);
});

test('stop() lets the in-flight entry finish and acks it', async () => {
  const prefix = newPrefix();
  const stream = `${prefix}ingest`;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started = false;
  const i = await ingest(prefix, 'stopper', async () => {
    started = true;
    await gate;
  });
  await admin.xadd(stream, '*', 'payload', '{}');
  await waitFor('handler started', () => started);
  let stopped = false;
  const stopping = i.stop().then(() => (stopped = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(stopped, false, 'stop waits for the in-flight entry');
  release();
  await stopping;
  assert.equal(i.handled, 1);
  assert.equal(await pending(stream), 0);
});

// Without CLIENT UNBLOCK, stop() would wait out the 10-minute block and the test would hit its timeout.
test('stop() ends a blocked read at once', { timeout: 60_000 }, async () => {
  const prefix = newPrefix();
  const consumer = `idle-${prefix.slice(-11, -1)}`;
  const i = await ingest(prefix, consumer, async () => {}, { blockMs: 600_000 });
  const blocked = async () =>
    String(await admin.client('LIST'))
      .split('\n')
      .some((l) => l.includes(`name=herald:${consumer}:ingest-block `) && l.includes('cmd=xreadgroup'));
  await waitFor('the blocking read to reach Redis', blocked);
  await i.stop();
  assert.equal(await blocked(), false);
});

test('stats(): pending, backlog, lag and dead letters', async () => {
  const prefix = newPrefix();
  const stream = `${prefix}ingest`;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started = 0;
  const i = await ingest(prefix, 'stats', async (body) => {
    if ((body as { bad?: boolean }).bad) throw Object.assign(new Error('bad'), { status: 400 });
    started++;
    await gate;
  }, { batchSize: 1 });
  const idle = await i.stats();
  assert.deepEqual(idle, { ingestPending: 0, ingestBacklog: 0, ingestLagSeconds: 0, ingestDeadLettered: 0 });
  for (let n = 0; n < 3; n++) await admin.xadd(stream, '*', 'payload', '{}');
  await waitFor('first entry in the handler', () => started === 1);
  const busy = await i.stats();
  // batchSize 1: one entry delivered and pending, two waiting in the stream.
  assert.equal(busy.ingestPending, 1);
  assert.equal(busy.ingestBacklog, 2);
  assert.ok(busy.ingestLagSeconds >= 0);
  release();
  await admin.xadd(stream, '*', 'payload', '{"bad":true}');
  await waitFor('all done', async () => i.handled === 3 && i.deadLettered === 1 && (await pending(stream)) === 0);
  const done = await i.stats();
  assert.deepEqual(done, { ingestPending: 0, ingestBacklog: 0, ingestLagSeconds: 0, ingestDeadLettered: 1 });
});

test('idle consumers with nothing pending are retired from the group; ones holding entries are kept', async () => {
  const prefix = newPrefix();
  const stream = `${prefix}ingest`;
  await admin.xgroup('CREATE', stream, 'herald', '0', 'MKSTREAM');
  // A consumer from an earlier life that holds nothing, and one that holds an entry.
  await admin.xgroup('CREATECONSUMER', stream, 'herald', 'ghost-empty');
  await admin.xadd(stream, '*', 'payload', '{}');
  await admin.xreadgroup('GROUP', 'herald', 'ghost-holding', 'COUNT', 1, 'STREAMS', stream, '>');
  const consumers = async () => ((await admin.xinfo('CONSUMERS', stream, 'herald')) as string[][]).map((c) => c[1]).sort();
  assert.deepEqual(await consumers(), ['ghost-empty', 'ghost-holding']);
  await waitFor('ghosts idle', async () => {
    const rows = (await admin.xinfo('CONSUMERS', stream, 'herald')) as (string | number)[][];
    return rows.every((r) => Number(r[r.indexOf('idle') + 1]) >= 300);
  });
  // claimIdleMs is long, so the held entry stays with ghost-holding during the test.
  await ingest(prefix, 'live', async () => {}, { consumerRetireMs: 300, claimIdleMs: 600_000 });
  await waitFor('empty ghost retired', async () => !(await consumers()).includes('ghost-empty'));
  assert.deepEqual(await consumers(), ['ghost-holding', 'live']);
});
