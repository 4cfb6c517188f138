/**
 * Ingest benchmark: entries/s a Herald node ingests from each source, and
 * publish→deliver latency, beside the HTTP API in the same run, on the same
 * node, to the same devices.
 *
 *   npm run build --silent && node packages/bench/dist/ingestBench.js [options]
 *
 * One Herald node (child process, Redis engine, its own key prefix, a RabbitMQ
 * queue of its own) and N devices connected to it, one per user, acking every
 * message. For each source in turn (http, redis, amqp):
 *   burst: M reliable user messages produced as fast as the producer can; the
 *          rate is M / (first produced → last delivered), the latency is under
 *          saturation (queueing included);
 *   paced: R messages/s for S seconds; latency at a load the node keeps up with.
 * The timestamp is taken when the producer hands the entry over (HTTP request
 * written, XADD sent, sendToQueue called); delivery is the device's receipt.
 * Needs Redis on 127.0.0.1:6379 and RabbitMQ on amqp://guest:guest@127.0.0.1:5672
 * (--redis, --amqp); deletes its keys and queues afterwards.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { connect as amqpConnect } from 'amqplib';
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

type SourceKind = 'http' | 'redis' | 'amqp';

interface Options {
  entries: number;
  users: number;
  rate: number;
  pacedSec: number;
  amqpConcurrency: number;
  amqpPrefetch: number;
  httpInFlight: number;
  sources: SourceKind[];
  redisUrl: string;
  amqpUrl: string;
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
  const queue = `herald.bench.${randomBytes(4).toString('hex')}`;
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
    },
  });
  const devices = new Devices();
  const results: PhaseResult[] = [];
  const admin = new Redis(o.redisUrl);
  try {
    await devices.open(server.httpBase, o.users);
    let id = 1;
    for (const source of o.sources) {
      const producer = source === 'http' ? httpProducer(server.httpBase, o.httpInFlight) : source === 'redis' ? redisProducer(o.redisUrl, `${prefix}ingest`) : await amqpProducer(o.amqpUrl, queue);
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
      'http-in-flight': { type: 'string', default: '64' },
      sources: { type: 'string', default: 'http,redis,amqp' },
      redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
      amqp: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
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
    httpInFlight: Number(values['http-in-flight']),
    sources: String(values.sources).split(',') as SourceKind[],
    redisUrl: String(values.redis),
    amqpUrl: String(values.amqp),
    ...(values.json ? { json: values.json } : {}),
  };
  const results = await ingestBench(o);
  console.log(table(results, o));
  if (o.json) writeFileSync(o.json, JSON.stringify({ options: o, results }, null, 2));
  process.exit(0);
}
