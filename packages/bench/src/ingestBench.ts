/**
 * Ingest benchmark: entries/s a Herald node ingests from each source, and
 * publish→deliver latency, beside the HTTP API in the same run, on the same
 * node, to the same devices.
 *
 *   npm run build --silent && node packages/bench/dist/ingestBench.js [options]
 *
 * One Herald node (child process, Redis engine, its own key prefix, a RabbitMQ
 * queue, a NATS stream/subject and a PostgreSQL outbox table of its own) and N
 * devices connected to it, one per user, acking every message. For each source
 * in turn (http, redis, amqp, nats, pg):
 *   burst: M reliable user messages produced as fast as the producer can; the
 *          rate is M / (first produced → last delivered), the latency is under
 *          saturation (queueing included);
 *   paced: R messages/s for S seconds; latency at a load the node keeps up with.
 * The timestamp is taken when the producer hands the entry over (HTTP request
 * written, XADD sent, sendToQueue called, JetStream publish sent, INSERT
 * built); delivery is the device's receipt.
 * Needs Redis on 127.0.0.1:6379, RabbitMQ on amqp://guest:guest@127.0.0.1:5672,
 * NATS JetStream on nats://127.0.0.1:4222 and PostgreSQL on
 * postgres://postgres@127.0.0.1:5432/test (--redis, --amqp, --nats, --pg);
 * deletes its keys, queues, streams and tables afterwards.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { connect as amqpConnect } from 'amqplib';
import { connect as natsConnect } from 'nats';
import pg from 'pg';
import { nowUs } from './clock.js';
import { createHistogram, summarize, type Histogram, type LatencySummary } from './histogram.js';
import { Publisher } from './publisher.js';
import { startServer } from './spawn.js';
import { signHs256 } from '@herald/testkit';
import { isMainModule } from './entry.js';

const SECRET = 'ingest-bench-secret-0123456789';
const API_KEY = 'ingest-bench-api-key-0123456789';
/** k = phase * PHASE_SPAN + index: the receiver knows the phase from the payload alone. */
const PHASE_SPAN = 10_000_000;

type SourceKind = 'http' | 'redis' | 'amqp' | 'nats' | 'pg';

interface Options {
  entries: number;
  users: number;
  rate: number;
  pacedSec: number;
  amqpConcurrency: number;
  amqpPrefetch: number;
  natsConcurrency: number;
  pgConcurrency: number;
  httpInFlight: number;
  sources: SourceKind[];
  redisUrl: string;
  amqpUrl: string;
  natsUrl: string;
  pgUrl: string;
  json?: string;
}

interface PhaseResult {
  source: SourceKind;
  mode: 'burst' | 'paced';
  entries: number;
  delivered: number;
  seconds: number;
  entriesPerSec: number;
  latency: LatencySummary;
}

interface Phase {
  expected: number;
  delivered: number;
  hist: Histogram;
  done: Promise<void>;
  resolve: () => void;
}

class Devices {
  private readonly sockets: WebSocket[] = [];
  readonly phases = new Map<number, Phase>();

  async open(base: string, users: number): Promise<void> {
    const ws = base.replace(/^http/, 'ws');
    const exp = Math.floor(Date.now() / 1000) + 3600;
    for (let u = 0; u < users; u++) {
      const token = signHs256({ sub: `u${u}`, exp }, SECRET);
      const s = new WebSocket(`${ws}/ws?token=${token}&device=d`);
      this.sockets.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.on('message', (raw) => {
          const f = JSON.parse(raw.toString()) as { type: string; seq?: number; data?: { t?: number; k?: number } };
          if (f.type === 'welcome') resolve();
          if (f.type !== 'message') return;
          if (typeof f.seq === 'number') s.send(JSON.stringify({ type: 'ack', seq: f.seq }));
          const d = f.data;
          if (!d || typeof d.t !== 'number' || typeof d.k !== 'number') return;
          const p = this.phases.get(Math.floor(d.k / PHASE_SPAN));
          if (!p) return;
          p.hist.recordValue(Math.max(1, nowUs() - d.t));
          if (++p.delivered === p.expected) p.resolve();
        });
      });
    }
  }

  phase(id: number, expected: number): Phase {
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const p: Phase = { expected, delivered: 0, hist: createHistogram(), done, resolve };
    this.phases.set(id, p);
    return p;
  }

  close(): void {
    for (const s of this.sockets) s.close();
  }
}

/**
 * A producer hands one entry to its source (`now`: at once, not batched with the next ones);
 * `flush` waits until the source has all handed so far.
 */
interface Producer {
  send(user: number, k: number, now: boolean): Promise<void> | void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

function body(user: number, k: number): string {
  return JSON.stringify({ to: { user: `u${user}` }, data: { t: nowUs(), k, r: -1 } });
}

function httpProducer(base: string, inFlight: number): Producer {
  const pub = new Publisher(base, API_KEY, inFlight, 0);
  const pending = new Set<Promise<unknown>>();
  let failures = 0;
  return {
    async send(user, k) {
      while (!pub.canSend) await Promise.race(pending);
      const p = pub.publish({ user: `u${user}` }, k, -1).then((r) => {
        if (!r.ok) failures++;
      });
      pending.add(p);
      void p.finally(() => pending.delete(p));
    },
    async flush() {
      await Promise.all(pending);
      if (failures) throw new Error(`${failures} HTTP publishes failed`);
    },
    async close() {
      pub.close();
    },
  };
}

function redisProducer(url: string, stream: string): Producer {
  const r = new Redis(url);
  let batch = r.pipeline();
  let n = 0;
  const out: Promise<unknown>[] = [];
  return {
    send(user, k, now) {
      batch.xadd(stream, '*', 'payload', body(user, k));
      // Pipelined in batches in a burst, as a busy producer would; paced entries go out one by one.
      if (now || ++n % 100 === 0) {
        out.push(batch.exec());
        batch = r.pipeline();
      }
    },
    async flush() {
      out.push(batch.exec());
      batch = r.pipeline();
      await Promise.all(out.splice(0));
    },
    async close() {
      r.disconnect();
    },
  };
}

async function amqpProducer(url: string, queue: string): Promise<Producer> {
  const conn = await amqpConnect(url);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue, { durable: true });
  return {
    async send(user, k) {
      // Backpressure: wait for the socket to drain rather than buffering without bound.
      if (!ch.sendToQueue(queue, Buffer.from(body(user, k)), { persistent: true, messageId: `b-${k}` })) await new Promise((r) => ch.once('drain', r));
    },
    flush: () => ch.waitForConfirms(),
    async close() {
      await conn.close();
    },
  };
}

async function natsProducer(url: string, subject: string): Promise<Producer> {
  const nc = await natsConnect({ servers: url });
  const js = nc.jetstream();
  const pending = new Set<Promise<unknown>>();
  return {
    async send(user, k) {
      // Up to 256 publishes awaiting their PubAck: bounded, as a careful producer would.
      while (pending.size >= 256) await Promise.race(pending);
      const p = js.publish(subject, body(user, k)).finally(() => pending.delete(p));
      pending.add(p);
    },
    async flush() {
      await Promise.all(pending);
    },
    async close() {
      await nc.drain();
    },
  };
}

/**
 * Outbox rows as backends write them: a burst inserts 100 rows per statement, paced rows one by one,
 * each its own transaction. A pool of 8 connections, as a backend has: one connection commits only
 * ~700 single-row transactions/s here (a commit waits for the WAL flush), which would time the
 * producer rather than Herald.
 */
async function pgProducer(url: string, table: string): Promise<Producer> {
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  let rows: string[] = [];
  const out: Promise<unknown>[] = [];
  const insert = (): void => {
    if (rows.length === 0) return;
    const values = rows.map((_, i) => `($${i + 1}::jsonb)`).join(',');
    out.push(pool.query(`INSERT INTO "${table}"(payload) VALUES ${values}`, rows));
    rows = [];
  };
  return {
    send(user, k, now) {
      rows.push(body(user, k));
      if (now || rows.length >= 100) insert();
    },
    async flush() {
      insert();
      await Promise.all(out.splice(0));
    },
    async close() {
      await pool.end();
    },
  };
}

async function runPhase(devices: Devices, id: number, source: SourceKind, mode: 'burst' | 'paced', producer: Producer, o: Options): Promise<PhaseResult> {
  const count = mode === 'burst' ? o.entries : o.rate * o.pacedSec;
  const p = devices.phase(id, count);
  const t0 = nowUs();
  for (let i = 0; i < count; i++) {
    if (mode === 'paced') {
      const due = t0 + (i * 1e6) / o.rate;
      const wait = due - nowUs();
      if (wait > 1000) await new Promise((r) => setTimeout(r, wait / 1000));
    }
    await producer.send(i % o.users, id * PHASE_SPAN + i, mode === 'paced');
    // Let the event loop breathe in a burst so that receipts are timed as they arrive.
    if (mode === 'burst' && i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  await producer.flush();
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 120_000).unref());
  const got = await Promise.race([p.done.then(() => 'done' as const), timeout]);
  const seconds = (nowUs() - t0) / 1e6;
  if (got === 'timeout') console.error(`${source} ${mode}: ${p.delivered}/${count} delivered within 120 s`);
  return { source, mode, entries: count, delivered: p.delivered, seconds, entriesPerSec: p.delivered / seconds, latency: summarize(p.hist) };
}

export async function ingestBench(o: Options): Promise<PhaseResult[]> {
  const prefix = `herald-bench-${randomBytes(4).toString('hex')}:`;
  const tag = randomBytes(4).toString('hex');
  const queue = `herald.bench.${tag}`;
  const natsStream = `HERALD_BENCH_${tag}`;
  const natsSubject = `herald.bench.${tag}`;
  const pgTable = `herald_bench_${tag}`;
  const server = await startServer({
    kind: 'herald',
    secret: SECRET,
    apiKey: API_KEY,
    logDir: join(tmpdir(), 'herald-ingest-bench'),
    env: {
      HERALD_ENGINE: 'redis',
      HERALD_REDIS_URL: o.redisUrl,
      HERALD_REDIS_KEY_PREFIX: prefix,
      HERALD_INGEST_AMQP_URL: o.amqpUrl,
      HERALD_INGEST_AMQP_QUEUE: queue,
      HERALD_INGEST_AMQP_CONCURRENCY: String(o.amqpConcurrency),
      HERALD_INGEST_AMQP_PREFETCH: String(o.amqpPrefetch),
      ...(o.sources.includes('nats')
        ? { HERALD_INGEST_NATS_URL: o.natsUrl, HERALD_INGEST_NATS_STREAM: natsStream, HERALD_INGEST_NATS_SUBJECT: natsSubject, HERALD_INGEST_NATS_CONCURRENCY: String(o.natsConcurrency) }
        : {}),
      ...(o.sources.includes('pg') ? { HERALD_INGEST_PG_URL: o.pgUrl, HERALD_INGEST_PG_TABLE: pgTable, HERALD_INGEST_PG_CONCURRENCY: String(o.pgConcurrency) } : {}),
    },
  });
  const devices = new Devices();
  const results: PhaseResult[] = [];
  const admin = new Redis(o.redisUrl);
  try {
    await devices.open(server.httpBase, o.users);
    let id = 1;
    for (const source of o.sources) {
      const producer =
        source === 'http'
          ? httpProducer(server.httpBase, o.httpInFlight)
          : source === 'redis'
            ? redisProducer(o.redisUrl, `${prefix}ingest`)
            : source === 'amqp'
              ? await amqpProducer(o.amqpUrl, queue)
              : source === 'nats'
                ? await natsProducer(o.natsUrl, natsSubject)
                : await pgProducer(o.pgUrl, pgTable);
      try {
        for (const mode of ['burst', 'paced'] as const) {
          const r = await runPhase(devices, id++, source, mode, producer, o);
          results.push(r);
          console.error(`${source.padEnd(5)} ${mode.padEnd(5)} ${fmt(r)}`);
        }
      } finally {
        await producer.close();
      }
    }
  } finally {
    devices.close();
    await server.stop();
    const conn = await amqpConnect(o.amqpUrl);
    const ch = await conn.createChannel();
    await ch.deleteQueue(queue);
    await ch.deleteQueue(`${queue}.dead`);
    await conn.close();
    if (o.sources.includes('nats')) {
      const nc = await natsConnect({ servers: o.natsUrl });
      const jsm = await nc.jetstreamManager();
      for (const st of [natsStream, `${natsStream}_DEAD`]) await jsm.streams.delete(st).catch(() => false);
      await nc.drain();
    }
    if (o.sources.includes('pg')) {
      const c = new pg.Client({ connectionString: o.pgUrl });
      await c.connect();
      await c.query(`DROP TABLE IF EXISTS "${pgTable}", "${pgTable}_dead"`);
      await c.query(`DROP FUNCTION IF EXISTS "${pgTable}_notify"()`);
      await c.end();
    }
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await admin.del(...keys);
    } while (cursor !== '0');
    admin.disconnect();
  }
  return results;
}

function fmt(r: PhaseResult): string {
  return `${r.delivered}/${r.entries} in ${r.seconds.toFixed(2)} s = ${Math.round(r.entriesPerSec)}/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms`;
}

function table(results: PhaseResult[], o: Options): string {
  const lines = [
    `| source | mode | entries | entries/s | p50 ms | p99 ms | max ms |`,
    `|---|---|---|---|---|---|---|`,
    ...results.map(
      (r) =>
        `| ${r.source} | ${r.mode === 'burst' ? 'burst' : `paced ${o.rate}/s`} | ${r.delivered}/${r.entries} | ${Math.round(r.entriesPerSec)} | ${r.latency.p50} | ${r.latency.p99} | ${r.latency.max} |`,
    ),
  ];
  return lines.join('\n');
}

if (isMainModule(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      entries: { type: 'string', default: '20000' },
      users: { type: 'string', default: '200' },
      rate: { type: 'string', default: '1000' },
      'paced-sec': { type: 'string', default: '5' },
      'amqp-concurrency': { type: 'string', default: '16' },
      'amqp-prefetch': { type: 'string', default: '64' },
      'nats-concurrency': { type: 'string', default: '16' },
      'pg-concurrency': { type: 'string', default: '16' },
      'http-in-flight': { type: 'string', default: '64' },
      sources: { type: 'string', default: 'http,redis,amqp,nats,pg' },
      redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
      amqp: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
      nats: { type: 'string', default: 'nats://127.0.0.1:4222' },
      pg: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
      json: { type: 'string' },
    },
  });
  const o: Options = {
    entries: Number(values.entries),
    users: Number(values.users),
    rate: Number(values.rate),
    pacedSec: Number(values['paced-sec']),
    amqpConcurrency: Number(values['amqp-concurrency']),
    amqpPrefetch: Number(values['amqp-prefetch']),
    natsConcurrency: Number(values['nats-concurrency']),
    pgConcurrency: Number(values['pg-concurrency']),
    httpInFlight: Number(values['http-in-flight']),
    sources: String(values.sources).split(',') as SourceKind[],
    redisUrl: String(values.redis),
    amqpUrl: String(values.amqp),
    natsUrl: String(values.nats),
    pgUrl: String(values.pg),
    ...(values.json ? { json: values.json } : {}),
  };
  const results = await ingestBench(o);
  console.log(table(results, o));
  if (o.json) writeFileSync(o.json, JSON.stringify({ options: o, results }, null, 2));
  process.exit(0);
}
