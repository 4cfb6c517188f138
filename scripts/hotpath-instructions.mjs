#!/usr/bin/env node
/**
 * A repeatable cost figure for the unicast and reliable paths (issue 20): the
 * server's instructions per delivery over a fixed workload, counted by
 * valgrind's callgrind — wall-clock CPU figures swing with the load of a
 * shared machine, an instruction count does not.
 *
 * Workload: N users connect (one device each); W warm-up publishes, then M
 * measured ones, C at a time (each POST /api/v1/publish awaited, and the
 * frame's arrival at its user awaited; reliable: the client acks it), over
 * the users in turn. Only the measured publishes are counted
 * (callgrind_control -i on / -d). The same count is taken over an idle window
 * as long as the measured phase and subtracted, so timers that run while
 * nothing is published (slower under valgrind) do not count as delivery cost.
 *
 *   npm run build --silent
 *   node scripts/hotpath-instructions.mjs --target herald --case unicast
 *   node scripts/hotpath-instructions.mjs --target herald --case reliable
 *   node scripts/hotpath-instructions.mjs --target raw --case unicast
 *   node scripts/hotpath-instructions.mjs --target herald|raw --case connect
 * `--case connect` (issue 20, connects/s): instructions per WebSocket connect instead — the
 * upgrade, token check, session, welcome — each a new user with a URL token, held open; W warm-up
 * connects, then M measured ones, C in flight, each awaited up to its welcome frame. Publishes none.
 * Under valgrind V8 is still compiling (TurboFan) and collecting long after the warm-up, and
 * wall-clock timers fire ~50 times more often per delivery: --keep writes both dumps (measured
 * and idle) so that compiler and GC instructions can be told apart (callgrind_annotate).
 * Options: --users 50 --warmup 400 --messages 400; --no-valgrind reports CPU
 * time (utime+stime from /proc) instead, quick but noisy; with it, --cpu-prof <dir>
 * writes a V8 CPU profile of the server (node packages/bench/dist/profile.js <file>).
 */
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'node:http';
import WebSocket from 'ws';
import { callgrindArgs, callgrindOf, freePort, hs256Signer } from './callgrind-kit.mjs';

const { values: o } = parseArgs({
  options: {
    target: { type: 'string', default: 'herald' },
    case: { type: 'string', default: 'unicast' },
    users: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '400' },
    messages: { type: 'string', default: '400' },
    /** Publishes in flight (each to its own user): keeps a slowed server busy rather than waiting on round trips. */
    concurrency: { type: 'string', default: '10' },
    'no-valgrind': { type: 'boolean', default: false },
    /** With --no-valgrind: write a V8 CPU profile of the server into this directory. */
    'cpu-prof': { type: 'string' },
    /** Keep the measured phase's callgrind dump here (callgrind_annotate <file>). */
    keep: { type: 'string' },
    /** Another build of the server to measure (e.g. a copy of an older packages/server under this checkout). */
    'herald-bin': { type: 'string' },
    /** With --no-valgrind: count the server's syscalls in the measured phase (strace -c) into this file. */
    strace: { type: 'string' },
  },
});
const root = fileURLToPath(new URL('..', import.meta.url));
const N = Number(o.users);
const W = Number(o.warmup);
const M = Number(o.messages);
const C = Math.min(Number(o.concurrency), N);
const reliable = o.case === 'reliable';
const connectCase = o.case === 'connect';
const valgrind = !o['no-valgrind'];
if (reliable && o.target !== 'herald') throw new Error('reliable: herald only');

const secret = randomBytes(32).toString('base64url');
const apiKey = randomBytes(24).toString('base64url');
const token = hs256Signer(secret);

const port = await freePort();
const outDir = mkdtempSync(join(tmpdir(), 'hotpath-'));
const script = o.target === 'herald' ? [o['herald-bin'] ?? join(root, 'packages/server/bin/herald.js'), 'serve'] : [join(root, 'packages/bench/dist/servers/rawWsServer.js')];
const env = {
  ...process.env,
  HERALD_PORT: String(port), HERALD_HOST: '127.0.0.1', HERALD_JWT_SECRET: secret, HERALD_API_KEY: apiKey, HERALD_LOG_LEVEL: 'warn',
  // valgrind slows the server some 50 times: the load shedder would refuse the publishes, silent
  // clients (unicast: they only receive) would be closed after 2 heartbeats, and acks would time out.
  HERALD_SHED_EVENT_LOOP_DELAY_MS: '0', HERALD_HEARTBEAT_MS: '600000', HERALD_ACK_TIMEOUT_MS: '600000',
  // Every connect comes from one address (the connect case's, and thousands of --users): its rate
  // limit is still taken, never refuses.
  HERALD_CONNECT_BURST_PER_IP: '10000000',
  BENCH_PORT: String(port), BENCH_HOST: '127.0.0.1', BENCH_JWT_SECRET: secret, BENCH_API_KEY: apiKey,
};
const cmd = valgrind
  ? ['valgrind', [...callgrindArgs(outDir), process.execPath, ...script]]
  : [process.execPath, [...(o['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', o['cpu-prof']] : []), ...script]];
const child = spawn(cmd[0], cmd[1], { env, stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
child.stderr.on('data', (d) => (stderr += d));
const kill = () => child.exitCode === null && child.kill('SIGKILL');
process.on('exit', () => { kill(); rmSync(outDir, { recursive: true, force: true }); });
process.on('uncaughtException', (err) => {
  process.stderr.write(`${err.stack}\nserver exit code ${child.exitCode}, signal ${child.signalCode}; server stderr (tail):\n${stderr.slice(-3000)}\n`);
  process.exit(1);
});

const base = `http://127.0.0.1:${port}`;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
/** A keep-alive socket the server closed just as it was reused (its idle timeout): retried once, as the bench does. */
async function http(method, path, body) {
  try {
    return await http1(method, path, body);
  } catch (err) {
    if (err.code !== 'ECONNRESET') throw err;
    return http1(method, path, body);
  }
}
function http1(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = request(base + path, { method, agent, headers: body ? { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' } : {} }, (res) => {
      let t = '';
      res.on('data', (d) => (t += d));
      res.on('end', () => resolve({ status: res.statusCode, body: t }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const deadline = Date.now() + 900_000;
for (;;) {
  if (child.exitCode !== null) throw new Error(`server exited: ${stderr}`);
  if (Date.now() > deadline) throw new Error('server not ready');
  const ok = await http('GET', '/readyz').then((r) => r.status === 200, () => false);
  if (ok) break;
  await new Promise((r) => setTimeout(r, 200));
}

/** Publishes k = from … from+count-1, C at a time; publish k goes to user k % N; the C in flight go to different users. */
async function publishMany(from, count) {
  let next = from;
  const worker = async () => {
    while (next < from + count) await publishOne(next++);
  };
  await Promise.all(Array.from({ length: C }, worker));
}

// Clients: each resolves the waiter of its next expected message.
const waiters = new Map();
const clients = [];
for (let i = 0; i < (connectCase ? 0 : N); i++) {
  const user = `u${i}`;
  const q = o.target === 'herald' ? `token=${encodeURIComponent(token(user))}&device=d&platform=other` : `token=${encodeURIComponent(token(user))}`;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?${q}`);
  // Herald indexes the session before its welcome: a publish sent after it reaches the user.
  const ready = o.target === 'herald'
    ? new Promise((res, rej) => { ws.once('message', res); ws.once('close', (code, reason) => rej(new Error(`user ${user} closed ${code} ${reason}`))); })
    : Promise.resolve();
  ws.on('message', (raw) => {
    const f = JSON.parse(String(raw));
    if (f.type !== 'message' || typeof f.data?.k !== 'number') return;
    if (f.seq !== undefined) ws.send(`{"type":"ack","seq":${f.seq}}`);
    waiters.get(f.data.k)?.();
  });
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  await ready;
  clients.push(ws);
}

async function publishOne(k) {
  let timer;
  const got = new Promise((res, rej) => {
    waiters.set(k, res);
    timer = setTimeout(() => rej(new Error(`message ${k} not delivered within 120 s`)), 120_000);
  });
  const body = JSON.stringify({ to: { user: `u${k % N}` }, data: { k, p: 'x'.repeat(64) }, ...(o.target === 'herald' ? { reliable } : {}) });
  const r = await http('POST', '/api/v1/publish', body);
  if (r.status !== 200) throw new Error(`publish ${r.status}: ${r.body}`);
  await got;
  clearTimeout(timer);
  waiters.delete(k);
}

/** Connects k = from … from+count-1 (user c<k>), C at a time, each up to its welcome; held open. */
async function connectMany(from, count) {
  let next = from;
  const worker = async () => {
    while (next < from + count) {
      const k = next++;
      const q = o.target === 'herald' ? `token=${encodeURIComponent(token(`c${k}`))}&device=d&platform=other` : `token=${encodeURIComponent(token(`c${k}`))}`;
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?${q}`);
      await new Promise((res, rej) => {
        ws.once('message', res);
        ws.once('error', rej);
        ws.once('close', (code, reason) => rej(new Error(`connect ${k} closed ${code} ${reason}`)));
      });
      ws.removeAllListeners('close');
      ws.on('error', () => undefined);
      clients.push(ws);
    }
  };
  await Promise.all(Array.from({ length: C }, worker));
}
/** The workload of the case: publishes, or connects. */
const work = connectCase ? connectMany : publishMany;

await work(0, W);

const cpuOf = () => {
  const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10; // ms (USER_HZ 100)
};
const { cg, readTotal } = callgrindOf(child.pid, outDir);

let count, idle, ms;
if (valgrind) {
  cg('--instr=on');
  cg('-z');
  const t0 = Date.now();
  await work(W, M);
  ms = Date.now() - t0;
  count = readTotal(o.keep);
  await new Promise((r) => setTimeout(r, ms));
  idle = readTotal(o.keep && `${o.keep}.idle`);
} else {
  const tracer = o.strace ? spawn('strace', ['-c', '-f', '-o', o.strace, '-p', String(child.pid)], { stdio: 'ignore' }) : undefined;
  if (tracer) await new Promise((r) => setTimeout(r, 1000));
  const c0 = cpuOf();
  const t0 = Date.now();
  await work(W, M);
  ms = Date.now() - t0;
  count = cpuOf() - c0;
  if (tracer) {
    tracer.kill('SIGINT');
    await new Promise((r) => tracer.once('exit', r));
  }
  const c1 = cpuOf();
  await new Promise((r) => setTimeout(r, ms));
  idle = cpuOf() - c1;
}
const per = (count - idle) / M;
const unit = valgrind ? 'instructions' : 'ms CPU';
process.stdout.write(
  `${o.target} ${o.case}: ${M} ${connectCase ? 'connects' : `deliveries to ${N} users`} in ${ms} ms; ${count} ${unit} (idle window ${idle}); ` +
    (valgrind ? `${Math.round(per).toLocaleString('en-US')} instructions per ${connectCase ? 'connect' : 'delivery'}\n` : `${(per * 1000).toFixed(0)} µs CPU per ${connectCase ? 'connect' : 'delivery'}\n`),
);
for (const ws of clients) ws.terminate();
agent.destroy();
if (o['cpu-prof']) {
  // SIGTERM: the server shuts down and node writes the profile.
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}
kill();
process.exit(0);
