/**
 * Rooms (issue 18): room publish with history off vs on, and awareness
 * updates per second per node, in one run against one `herald serve` child
 * process per engine.
 *
 *   npm run build --silent && node packages/bench/dist/roomsBench.js [--engine memory|redis|both] [--seconds 8] [--members 50] [--inflight 16]
 *
 * - publish: `--members` WebSocket clients join room `plain` (no history) and
 *   room `hist:1` (history on through `roomHistoryOverrides=hist:=1000`); a
 *   closed loop keeps `--inflight` HTTP publishes in flight to one room for
 *   `--seconds`, then to the other (same server, same clients). Figures:
 *   publishes/s answered, deliveries/s, and publish→deliver latency p50/p99
 *   (send time carried in `data`, read by every member).
 * - awareness: `--members` clients in room `doc` send `state` frames as fast
 *   as the socket takes them (rate limit raised for the run) for `--seconds`;
 *   figures: state frames the node accepted (answered with a reply) per
 *   second, and state events delivered to members per second, with
 *   coalescing on (roomStateFlushMs 50) and off (0).
 * Server CPU is read from /proc for the child over each phase.
 */
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import WebSocket from 'ws';
import { freePort, mintToken, waitFor } from '@herald/testkit';
import { createHistogram, summarize } from './histogram.js';
import { HERALD_BIN } from './spawn.js';
import { cpuPercent, readProc } from './procstat.js';

interface Args {
  engine: 'memory' | 'redis' | 'both';
  seconds: number;
  members: number;
  inflight: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { engine: 'both', seconds: 8, members: 50, inflight: 16 };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === '--engine' && (v === 'memory' || v === 'redis' || v === 'both')) a.engine = v;
    else if (k === '--seconds') a.seconds = Number(v);
    else if (k === '--members') a.members = Number(v);
    else if (k === '--inflight') a.inflight = Number(v);
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

interface Server {
  url: string;
  apiKey: string;
  secret: string;
  child: ChildProcess;
}

async function startHerald(engine: 'memory' | 'redis', flushMs: number): Promise<Server> {
  const port = await freePort();
  const secret = randomBytes(24).toString('base64url');
  const apiKey = randomBytes(24).toString('base64url');
  const child = spawn(process.execPath, [HERALD_BIN, 'serve'], {
    env: {
      ...process.env,
      HERALD_ENGINE: engine,
      HERALD_REDIS_KEY_PREFIX: `bench-rooms-${process.pid}-${Date.now()}:`,
      HERALD_PORT: String(port),
      HERALD_HOST: '127.0.0.1',
      HERALD_JWT_SECRET: secret,
      HERALD_API_KEY: apiKey,
      HERALD_LOG_LEVEL: 'warn',
      HERALD_ROOM_HISTORY_OVERRIDES: 'hist:=1000',
      HERALD_ROOM_STATE_FLUSH_MS: String(flushMs),
      HERALD_ROOM_STATE_RATE_PER_CONN: '100000',
      HERALD_ROOM_STATE_BURST_PER_CONN: '100000',
      HERALD_FRAME_RATE_PER_USER: '0',
      HERALD_FRAME_RATE_PER_TENANT: '0',
      HERALD_API_PUBLISH_RATE_PER_TENANT: '0',
      HERALD_MAX_CONNECTIONS_PER_USER: '0',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('herald ready', async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200, 30_000);
  return { url, apiKey, secret, child };
}

async function stop(s: Server): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await exited;
}

interface Member {
  ws: WebSocket;
  onMessage(fn: (f: Record<string, unknown>) => void): void;
  request(f: Record<string, unknown>): Promise<Record<string, unknown>>;
}

async function member(s: Server, user: string): Promise<Member> {
  const token = mintToken(s.secret, { sub: user, ttlSec: 3600 });
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}/ws?token=${token}`);
  const listeners: ((f: Record<string, unknown>) => void)[] = [];
  const pending = new Map<string, (f: Record<string, unknown>) => void>();
  let n = 0;
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as Record<string, unknown>;
      if (f.type === 'welcome') resolve();
      if ((f.type === 'reply' || f.type === 'error') && typeof f.id === 'string') pending.get(f.id)?.(f);
      for (const l of listeners) l(f);
    });
    ws.once('error', reject);
  });
  return {
    ws,
    onMessage: (fn) => listeners.push(fn),
    request: (f) =>
      new Promise((resolve) => {
        const id = `r${++n}`;
        pending.set(id, (reply) => {
          pending.delete(id);
          resolve(reply);
        });
        ws.send(JSON.stringify({ ...f, id }));
      }),
  };
}

async function publishPhase(s: Server, members: Member[], room: string, a: Args): Promise<Record<string, number>> {
  const hist = createHistogram();
  let delivered = 0;
  const listener = (f: Record<string, unknown>) => {
    if (f.type !== 'message' || f.room !== room) return;
    delivered++;
    hist.recordValue(Math.max(1, Math.round((performance.now() + performance.timeOrigin - (f.data as { t: number }).t) * 1000)));
  };
  for (const m of members) m.onMessage(listener);
  let published = 0;
  let failed = 0;
  const end = performance.now() + a.seconds * 1000;
  const p0 = readProc(s.child.pid!, Date.now());
  const t0 = performance.now();
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const res = await fetch(`${s.url}/api/v1/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ to: { room }, data: { t: performance.now() + performance.timeOrigin, pad: 'x'.repeat(200) } }),
      });
      await res.arrayBuffer();
      if (res.status === 200) published++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: a.inflight }, loop));
  const elapsed = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 500)); // let the last deliveries land
  const cpu = cpuPercent(p0, readProc(s.child.pid!, Date.now()));
  const l = summarize(hist);
  return { publishesPerSec: Math.round(published / elapsed), deliveriesPerSec: Math.round(delivered / elapsed), p50ms: l.p50, p99ms: l.p99, failed, serverCpuPct: Math.round(cpu) };
}

async function awarenessPhase(s: Server, members: Member[], a: Args): Promise<Record<string, number>> {
  const room = 'doc';
  for (const m of members) await m.request({ type: 'join', room });
  let events = 0;
  let errors = 0;
  let accepted = 0;
  for (const m of members)
    m.onMessage((f) => {
      if (f.type === 'state') events++;
      else if (f.type === 'error') errors++;
      else if (f.type === 'reply' && f.id === 's') accepted++;
    });
  let sent = 0;
  const end = performance.now() + a.seconds * 1000;
  const p0 = readProc(s.child.pid!, Date.now());
  const t0 = performance.now();
  // Each member moves its cursor as fast as its socket drains (bounded buffering).
  await Promise.all(
    members.map(async (m, i) => {
      let x = 0;
      while (performance.now() < end) {
        if (m.ws.bufferedAmount < 64 * 1024) {
          for (let k = 0; k < 20; k++) m.ws.send(JSON.stringify({ type: 'state', room, data: { cursor: { x: x++, y: i } }, id: 's' }));
          sent += 20;
        }
        await new Promise((r) => setImmediate(r));
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const acceptedInTime = accepted;
  await new Promise((r) => setTimeout(r, 500));
  const cpu = cpuPercent(p0, readProc(s.child.pid!, Date.now()));
  return { updatesAcceptedPerSec: Math.round(acceptedInTime / elapsed), updatesSentPerSec: Math.round(sent / elapsed), stateEventsDeliveredPerSec: Math.round(events / elapsed), refused: errors, serverCpuPct: Math.round(cpu) };
}

async function runEngine(engine: 'memory' | 'redis', a: Args): Promise<void> {
  const s = await startHerald(engine, 50);
  try {
    const members = await Promise.all(Array.from({ length: a.members }, (_, i) => member(s, `m${i}`)));
    for (const m of members) {
      await m.request({ type: 'join', room: 'plain' });
      await m.request({ type: 'join', room: 'hist:1' });
    }
    const off = await publishPhase(s, members, 'plain', a);
    const on = await publishPhase(s, members, 'hist:1', a);
    const off2 = await publishPhase(s, members, 'plain', a); // again, to see drift
    console.log(JSON.stringify({ engine, case: 'room publish', members: a.members, inflight: a.inflight, seconds: a.seconds, historyOff: off, historyOn: on, historyOffAgain: off2 }));
    const aw = await awarenessPhase(s, members, a);
    console.log(JSON.stringify({ engine, case: 'awareness, coalesced (roomStateFlushMs 50)', members: a.members, ...aw }));
    for (const m of members) m.ws.close();
  } finally {
    await stop(s);
  }
  const s2 = await startHerald(engine, 0);
  try {
    const members = await Promise.all(Array.from({ length: a.members }, (_, i) => member(s2, `m${i}`)));
    const aw = await awarenessPhase(s2, members, a);
    console.log(JSON.stringify({ engine, case: 'awareness, not coalesced (roomStateFlushMs 0)', members: a.members, ...aw }));
    for (const m of members) m.ws.close();
  } finally {
    await stop(s2);
  }
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  console.log(JSON.stringify({ node: process.version, cpus: os.cpus().length, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100) }));
  for (const engine of a.engine === 'both' ? (['memory', 'redis'] as const) : [a.engine]) await runEngine(engine, a);
  console.log(JSON.stringify({ loadavgAfter: os.loadavg().map((x) => Math.round(x * 100) / 100) }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
