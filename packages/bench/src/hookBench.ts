/**
 * Hooks in the path (docs/hooks.md): what the connect hook costs, and what
 * the circuit breaker saves when the hook is dead.
 *
 *   npm run build --silent && node packages/bench/dist/hookBench.js [--connects 3000] [--concurrency 50] [--storm 3000] [--storm-concurrency 200]
 *
 * 1. Connect rate, in the same run against the same server: N sequential-ish
 *    connects (C at a time) with a JWT in the URL, then N through the connect
 *    hook (cookie header, no token), alternated twice; each connect waits for
 *    the welcome, then drops the socket. The hook backend runs in this
 *    process (node:http, answers from memory, like a session lookup in a
 *    cache) and verifies nothing: the figure is Herald's cost, not a
 *    backend's.
 * 2. A connect storm against a dead hook (accepts the request, never
 *    answers): S connects, C at a time, against a server with the breaker
 *    (defaults: 5 failures, 10 s open, 2 s timeout) and against one whose
 *    breaker never opens (hookBreakerFailures 1000): connect latency
 *    (until the 1013 close) and the server's RSS before and after.
 * The server is a child process (`herald serve`, memory engine); RSS and CPU
 * come from /proc. Machine load (loadavg) is printed with the results.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { mintToken } from '@herald/testkit';
import { freshCredentials, startTarget } from './serverStart.js';
import type { SpawnedServer } from './spawn.js';
import { readProc } from './procstat.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const CONNECTS = arg('connects', 3000);
const CONCURRENCY = arg('concurrency', 50);
const STORM = arg('storm', 3000);
const STORM_CONCURRENCY = arg('storm-concurrency', 200);

/** The hook backend: `live` answers an identity from the cookie; `dead` holds every request. */
let mode: 'live' | 'dead' = 'live';
const held = new Set<ServerResponse>();
const backend = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (mode === 'dead') {
      held.add(res);
      res.on('close', () => held.delete(res));
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { headers: Record<string, string> };
    const sid = /sid=([^;]+)/.exec(body.headers.cookie ?? '')?.[1];
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(sid ? { user: `u-${sid}` } : { reject: { code: 4001, reason: 'no session' } }));
  });
});
backend.keepAliveTimeout = 60_000;

interface Outcome {
  ms: number;
  /** 0 = welcome, else the close code. */
  code: number;
  /** The close reason's failure name, e.g. `breaker_open` (from "authentication unavailable (breaker_open), …"). */
  why?: string;
}

/** One connect: open, wait for the welcome (or a close), drop the socket. */
function once(url: string, cookie: string | undefined): Promise<Outcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const ws = new WebSocket(url, cookie ? { headers: { cookie } } : {});
    let done = false;
    const finish = (code: number, reason = ''): void => {
      if (done) return;
      done = true;
      const why = /\(([a-z_]+)\)/.exec(reason)?.[1];
      resolve({ ms: performance.now() - t0, code, ...(why ? { why } : {}) });
      ws.terminate();
    };
    ws.on('message', () => finish(0));
    ws.on('close', (code, reason) => finish(code, reason.toString()));
    ws.on('error', () => finish(1006));
  });
}

/** `n` connects, `c` at a time. */
async function run(n: number, c: number, make: (i: number) => [string, string | undefined]): Promise<{ perSec: number; outcomes: Outcome[] }> {
  const outcomes: Outcome[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < n) {
        const i = next++;
        const [url, cookie] = make(i);
        outcomes.push(await once(url, cookie));
      }
    }),
  );
  return { perSec: Math.round((n / (performance.now() - t0)) * 1000), outcomes };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 10) / 10;
}

function codes(o: Outcome[]): string {
  const m = new Map<string, number>();
  for (const x of o) {
    const k = x.code === 0 ? 'welcome' : `${x.code}${x.why ? ` ${x.why}` : ''}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return [...m].map(([k, v]) => `${k} ×${v}`).join(', ');
}

const mb = (b: number): string => (b / 1024 / 1024).toFixed(1);

async function startHerald(hookUrl: string, extra: Record<string, string>, outDir: string): Promise<{ server: SpawnedServer; secret: string }> {
  const credentials = freshCredentials();
  const server = await startTarget({
    kind: 'herald',
    credentials,
    outDir,
    env: {
      HERALD_HOOK_CONNECT_URL: hookUrl,
      HERALD_WEBHOOK_SECRET: 'bench-hook-secret-0123456789',
      HERALD_CONNECT_RATE_PER_IP: '0',
      HERALD_MAX_PENDING_AUTH: '0',
      HERALD_MAX_CONNECTIONS_PER_USER: '0',
      HERALD_LOG_LEVEL: 'error',
      ...extra,
    },
  });
  return { server, secret: credentials.secret };
}

async function main(): Promise<void> {
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/connect`;
  const outDir = join(tmpdir(), `herald-hookbench-${process.pid}`);
  const load0 = os.loadavg();
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, loadavg before ${load0.map((x) => x.toFixed(2)).join(' ')}`);

  // ---- 1. connect rate: JWT vs connect hook, alternated, same server
  {
    const { server, secret } = await startHerald(hookUrl, {}, outDir);
    const ws = server.httpBase.replace(/^http/, 'ws') + '/ws';
    const tokens = Array.from({ length: CONNECTS }, (_, i) => mintToken(secret, { sub: `u-${i}`, ttlSec: 3600 }));
    const jwt = (i: number): [string, undefined] => [`${ws}?device=d&token=${tokens[i]!}`, undefined];
    const hook = (i: number): [string, string] => [`${ws}?device=d`, `sid=${i}; theme=dark`];
    await run(300, CONCURRENCY, hook); // warm-up (JIT, keep-alive pool)
    await run(300, CONCURRENCY, jwt);
    console.log(`\nconnect rate, ${CONNECTS} connects per round, ${CONCURRENCY} at a time (welcome received, socket dropped):`);
    console.log('| round | auth | connects/s | p50 ms | p99 ms | outcomes |');
    console.log('|---|---|---:|---:|---:|---|');
    for (let round = 1; round <= 2; round++) {
      for (const [name, make] of [
        ['JWT in URL', jwt],
        ['connect hook (cookie)', hook],
      ] as const) {
        const r = await run(CONNECTS, CONCURRENCY, make);
        const ms = r.outcomes.map((o) => o.ms);
        console.log(`| ${round} | ${name} | ${r.perSec} | ${pct(ms, 50)} | ${pct(ms, 99)} | ${codes(r.outcomes)} |`);
      }
    }
    await server.stop();
  }

  // ---- 2. storm against a dead hook: with the breaker, and with a breaker that never opens
  mode = 'dead';
  console.log(`\nconnect storm against a dead hook (never answers; timeout 2 s): ${STORM} connects, ${STORM_CONCURRENCY} at a time:`);
  console.log('| server | connects/s | p50 ms | p99 ms | max ms | p50 ms of breaker_open refusals | outcomes | RSS before → peak → after MB |');
  console.log('|---|---:|---:|---:|---:|---:|---|---|');
  for (const [name, extra] of [
    ['reference: same storm with a JWT in the URL (hook not called)', { jwt: '1' }],
    ['breaker (defaults: 5 failures, 10 s open)', {}],
    ['breaker nearly off (hookBreakerFailures 1000, the maximum)', { HERALD_HOOK_BREAKER_FAILURES: '1000' }],
  ] as const) {
    const { jwt, ...env } = extra as Record<string, string>;
    const { server, secret } = await startHerald(hookUrl, env, outDir);
    const ws = server.httpBase.replace(/^http/, 'ws') + '/ws';
    const tokens = jwt ? Array.from({ length: STORM }, (_, i) => mintToken(secret, { sub: `s-${i}`, ttlSec: 3600 })) : [];
    const before = readProc(server.pid, Date.now()).rssBytes;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, readProc(server.pid, Date.now()).rssBytes)), 100);
    const r = await run(STORM, STORM_CONCURRENCY, (i) => (jwt ? [`${ws}?device=d&token=${tokens[i]!}`, undefined] : [`${ws}?device=d`, `sid=${i}`]));
    clearInterval(sampler);
    await new Promise((res) => setTimeout(res, 500));
    const after = readProc(server.pid, Date.now()).rssBytes;
    const ms = r.outcomes.map((o) => o.ms);
    const fast = r.outcomes.filter((o) => o.why === 'breaker_open').map((o) => o.ms);
    const fastP50 = fast.length > 0 ? String(pct(fast, 50)) : '—';
    console.log(`| ${name} | ${r.perSec} | ${pct(ms, 50)} | ${pct(ms, 99)} | ${pct(ms, 100)} | ${fastP50} | ${codes(r.outcomes)} | ${mb(before)} → ${mb(peak)} → ${mb(after)} |`);
    for (const res of held) res.destroy();
    await server.stop();
  }
  const load1 = os.loadavg();
  console.log(`\nloadavg after ${load1.map((x) => x.toFixed(2)).join(' ')}`);
  backend.closeAllConnections();
  backend.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
