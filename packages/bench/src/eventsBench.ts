/**
 * Webhook events benchmark (docs/benchmarks.md, "Webhook events"):
 *
 * 1. Events per second per node: one Herald node (memory or Redis engine)
 *    with HERALD_WEBHOOK_URL pointing at a receiver in this process; devices
 *    that ack everything; reliable publishes as fast as the API takes them
 *    (batches). Every ack is one `acked` event. Reported: events the receiver
 *    got per second over the window, and the node's CPU.
 * 2. Unicast p99 with a dead webhook vs none: the same node at a fixed
 *    publish rate, latency publish → device, with no webhook, a webhook whose
 *    port refuses connections, and one that accepts and never answers.
 *
 * Usage: node packages/bench/dist/eventsBench.js [--engine memory|redis|both] [--seconds 10]
 *        [--users 200] [--rate 1000] [--redis-url redis://127.0.0.1:6379] [--quick]
 *        [--cases throughput,unicast] [--webhook none,refused,hang]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { freePort, mintToken, waitFor } from '@herald/testkit';
import { benchKeyPrefix, deleteKeysWithPrefix } from './redisKeys.js';

const BIN = fileURLToPath(new URL('../../server/bin/herald.js', import.meta.url));

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}
const quick = process.argv.includes('--quick');
const SECONDS = Number(flag('seconds', quick ? '4' : '10'));
const USERS = Number(flag('users', quick ? '50' : '200'));
const RATE = Number(flag('rate', quick ? '200' : '300'));
const REDIS_URL = flag('redis-url', 'redis://127.0.0.1:6379');
const ENGINES = flag('engine', 'both') === 'both' ? ['memory', 'redis'] : [flag('engine', 'memory')];

const secret = randomBytes(24).toString('base64url');
const apiKey = randomBytes(24).toString('base64url');
const webhookSecret = randomBytes(24).toString('base64url');

/** A receiver that counts events (answering 200), or a black hole that never answers. */
async function receiver(mode: 'ok' | 'hang'): Promise<{ server: Server; url: string; events: () => number; accept: (yes: boolean) => void }> {
  let n = 0;
  let accepting = true;
  const server = createServer((req, res) => {
    if (mode === 'hang') return; // accepts, reads nothing, never answers
    if (!accepting) {
      req.resume();
      res.writeHead(503).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      // Counting `"type":` is exact for our bodies and cheaper than parsing: the receiver must not be the bottleneck.
      n += body.split('"type":').length - 1;
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, events: () => n, accept: (yes) => (accepting = yes) };
}

async function startNode(engine: string, webhookUrl: string | undefined): Promise<{ child: ChildProcess; url: string; prefix: string }> {
  const port = await freePort();
  const prefix = benchKeyPrefix(`events-${randomBytes(4).toString('hex')}`);
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    HERALD_ENGINE: engine,
    HERALD_REDIS_URL: REDIS_URL,
    HERALD_REDIS_KEY_PREFIX: prefix,
    HERALD_PORT: String(port),
    HERALD_HOST: '127.0.0.1',
    HERALD_JWT_SECRET: secret,
    HERALD_API_KEY: apiKey,
    HERALD_LOG_LEVEL: 'error',
    HERALD_WEBHOOK_SECRET: webhookSecret,
    HERALD_API_PUBLISH_RATE_PER_TENANT: '0',
    HERALD_MAX_CONNECTIONS_PER_USER: '0',
    HERALD_CONNECT_RATE_PER_IP: '0',
    HERALD_MAX_HTTP_SOCKETS_PER_IP: '0',
    // A receiver back from an outage is found again within half a second.
    HERALD_WEBHOOK_MAX_BACKOFF_MS: '500',
    HERALD_WEBHOOK_MEMORY_MAX_EVENTS: '1000000',
  };
  if (webhookUrl) env.HERALD_WEBHOOK_URL = webhookUrl;
  const child = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('node up', async () => (await fetch(url + '/readyz').catch(() => undefined))?.ok, 20_000);
  return { child, url, prefix };
}

async function stopNode({ child, prefix }: { child: ChildProcess; prefix: string }, engine: string): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
  if (engine === 'redis') await deleteKeysWithPrefix(REDIS_URL, prefix);
}

/** CPU seconds (user + system) of a process so far, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

interface Device {
  ws: WebSocket;
  latencies: number[];
  /** Highest seq seen: a message resent after an ack timeout is not measured twice. */
  top: number;
}

async function connectUsers(url: string, n: number): Promise<Device[]> {
  const out: Device[] = [];
  for (let i = 0; i < n; i++) {
    const token = mintToken(secret, { sub: `u${i}`, did: 'd', ttlSec: 3600 });
    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws?token=${token}`);
    const d: Device = { ws, latencies: [], top: 0 };
    await new Promise<void>((resolve, reject) => {
      ws.once('error', reject);
      ws.on('message', (raw) => {
        const f = JSON.parse(raw.toString()) as { type: string; seq?: number; data?: { t?: number } };
        if (f.type === 'welcome') resolve();
        if (f.type === 'message' && typeof f.seq === 'number') {
          if (typeof f.data?.t === 'number' && f.seq > d.top) d.latencies.push(Date.now() - f.data.t);
          d.top = Math.max(d.top, f.seq);
          ws.send(JSON.stringify({ type: 'ack', seq: f.seq }));
        }
      });
    });
    out.push(d);
  }
  return out;
}

async function api(url: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(url + path, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`${path} answered ${res.status}`);
}

async function throughput(engine: string): Promise<void> {
  const rx = await receiver('ok');
  const node = await startNode(engine, rx.url);
  const devices = await connectUsers(node.url, USERS);
  await waitFor('connect events in', () => rx.events() >= USERS * 2, 30_000);
  const start = Date.now();
  const cpu0 = cpuSeconds(node.child.pid!);
  const rx0 = rx.events();
  let published = 0;
  const until = start + SECONDS * 1000;
  // Four publishers of 100-message batches, each to 100 users: every message is acked, one event each.
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (Date.now() < until) {
        const messages = Array.from({ length: 100 }, (_, i) => ({ to: { user: `u${(published + i) % USERS}` }, data: { n: published + i } }));
        published += 100;
        await api(node.url, '/api/v1/publish/batch', { messages });
      }
    }),
  );
  const genMs = Date.now() - start;
  const inWindow = rx.events() - rx0;
  // Then until every acked event arrived (bounded).
  await waitFor('acked events in', () => rx.events() - rx0 >= published, 120_000).catch(() => undefined);
  const allMs = Date.now() - start;
  const cpu = cpuSeconds(node.child.pid!) - cpu0;
  const got = rx.events() - rx0;
  console.log(
    `${engine.padEnd(6)} live:  ${Math.round(got / (allMs / 1000))} events/s delivered (${got} of ${published} acked events; ${Math.round(inWindow / (genMs / 1000))}/s during the ${(genMs / 1000).toFixed(1)} s of publishing, which is the limit here), ` +
      `node CPU ${((cpu / (allMs / 1000)) * 100).toFixed(0)}% of one core`,
  );
  // Backlog: the receiver refuses (503) while messages are published and acked; then it accepts,
  // and the time to drain the outbox is the sender's capacity on this node.
  rx.accept(false);
  const rx1 = rx.events();
  let backlog = 0;
  const until2 = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (Date.now() < until2) {
        const messages = Array.from({ length: 100 }, (_, i) => ({ to: { user: `u${(backlog + i) % USERS}` }, data: { n: i } }));
        backlog += 100;
        await api(node.url, '/api/v1/publish/batch', { messages });
      }
    }),
  );
  // Every ack reached the node (the devices ack at once); give the last ones a moment to be queued.
  await new Promise((r) => setTimeout(r, 1000));
  const t1 = Date.now();
  const cpu1 = cpuSeconds(node.child.pid!);
  rx.accept(true);
  await waitFor('backlog drained', () => rx.events() - rx1 >= backlog, 300_000).catch(() => undefined);
  const drainMs = Date.now() - t1;
  const drained = rx.events() - rx1;
  console.log(
    `${engine.padEnd(6)} drain: ${Math.round(drained / (drainMs / 1000))} events/s (${drained} of ${backlog} queued events in ${(drainMs / 1000).toFixed(1)} s, batches of 100, 16 partitions), ` +
      `node CPU ${(((cpuSeconds(node.child.pid!) - cpu1) / (drainMs / 1000)) * 100).toFixed(0)}% of one core`,
  );
  for (const d of devices) d.ws.close();
  await stopNode(node, engine);
  rx.server.close();
  rx.server.closeAllConnections();
}

function p(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

async function unicast(engine: string, mode: 'none' | 'refused' | 'hang'): Promise<void> {
  let hook: string | undefined;
  let rx: Awaited<ReturnType<typeof receiver>> | undefined;
  if (mode === 'refused') hook = `http://127.0.0.1:${await freePort()}/hook`;
  if (mode === 'hang') hook = (rx = await receiver('hang')).url;
  const node = await startNode(engine, hook);
  const devices = await connectUsers(node.url, USERS);
  const start = Date.now();
  const total = RATE * SECONDS;
  const inflight = new Set<Promise<void>>();
  let failed = 0;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const pr = api(node.url, '/api/v1/publish', { to: { user: `u${i % USERS}` }, data: { t: Date.now() } })
      .catch(() => void failed++)
      .finally(() => inflight.delete(pr));
    inflight.add(pr);
  }
  await Promise.allSettled([...inflight]);
  await waitFor('all received', () => devices.reduce((a, d) => a + d.latencies.length, 0) >= total, 30_000).catch(() => undefined);
  const all = devices.flatMap((d) => d.latencies);
  const closed = devices.filter((d) => d.ws.readyState !== WebSocket.OPEN).length;
  if (closed > 0) console.log(`  ${closed} devices were disconnected during the run`);
  console.log(`${engine.padEnd(6)} unicast ${RATE}/s, webhook ${mode.padEnd(7)}: p50 ${p(all, 0.5)} ms, p99 ${p(all, 0.99)} ms, max ${Math.max(...all)} ms (${all.length}/${total} received${failed ? `, ${failed} publishes failed` : ''})`);
  for (const d of devices) d.ws.close();
  await stopNode(node, engine);
  if (rx) {
    rx.server.close();
    rx.server.closeAllConnections();
  }
}

console.log(`eventsBench: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${USERS} devices, ${SECONDS} s per case, unicast at ${RATE}/s`);
const CASES = flag('cases', 'throughput,unicast').split(',');
const MODES = flag('webhook', 'none,refused,hang').split(',') as ('none' | 'refused' | 'hang')[];
if (CASES.includes('throughput')) for (const engine of ENGINES) await throughput(engine);
if (CASES.includes('unicast')) for (const engine of ENGINES) for (const mode of MODES) await unicast(engine, mode);
