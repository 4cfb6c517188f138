#!/usr/bin/env node
/**
 * A repeatable cost figure for a connect on the Redis engine (issue 20): the server's
 * instructions per WebSocket connect (each a new user, one device, held open), counted by
 * valgrind's callgrind over a fixed number of connects — CPU time per connect swings with the
 * load of a shared machine, an instruction count much less.
 *
 * Workload: W warm-up connects, then M measured ones, C at a time, each until its welcome and its
 * first replayed message arrived (one reliable message is published to every user beforehand, so
 * the replay read is part of the path). Only the measured connects are counted
 * (callgrind_control -i on / -d); the same count over an idle window as long is subtracted.
 *
 *   npm run build --silent
 *   node scripts/connect-instructions.mjs [--connections 400] [--warmup 200] [--concurrency 20]
 *        [--redis-url redis://127.0.0.1:6379] [--herald-bin <another build>/bin/herald.js]
 * The node uses a random key prefix and deletes its keys afterwards. Under valgrind V8 keeps
 * compiling through the measured phase: --keep <file> writes the dumps, and
 * `node scripts/callgrind-split.mjs <file> <file>.idle <connections>` separates compiler and GC
 * from the rest (compare builds on "rest").
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { callgrindArgs, callgrindOf, freePort, hs256Signer } from './callgrind-kit.mjs';

const { values: o } = parseArgs({
  options: {
    connections: { type: 'string', default: '400' },
    warmup: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '20' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    'herald-bin': { type: 'string' },
    /** Keep the measured dump here (and the idle one at <file>.idle), for scripts/callgrind-split.mjs. */
    keep: { type: 'string' },
  },
});
const root = fileURLToPath(new URL('..', import.meta.url));
const M = Number(o.connections);
const W = Number(o.warmup);
const C = Number(o.concurrency);
const prefix = `cinstr:${randomBytes(4).toString('hex')}:`;
const secret = randomBytes(32).toString('base64url');
const apiKey = randomBytes(24).toString('base64url');
const token = hs256Signer(secret);
const port = await freePort();
const outDir = mkdtempSync(join(tmpdir(), 'connect-instr-'));
const env = {
  ...process.env,
  HERALD_PORT: String(port), HERALD_HOST: '127.0.0.1', HERALD_JWT_SECRET: secret, HERALD_API_KEY: apiKey, HERALD_LOG_LEVEL: 'warn',
  HERALD_ENGINE: 'redis', HERALD_REDIS_URL: o['redis-url'], HERALD_REDIS_KEY_PREFIX: prefix,
  // Under valgrind: no load shedding, no heartbeat or ack deadlines within the run, no connect rate limit.
  HERALD_SHED_EVENT_LOOP_DELAY_MS: '0', HERALD_HEARTBEAT_MS: '600000', HERALD_ACK_TIMEOUT_MS: '600000', HERALD_CONNECT_RATE_PER_IP: '0',
  HERALD_MAX_PENDING_AUTH: '0', HERALD_MAX_CONNECTIONS: '0',
};
const bin = o['herald-bin'] ?? join(root, 'packages/server/bin/herald.js');
const child = spawn('valgrind', [...callgrindArgs(outDir), process.execPath, bin, 'serve'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
child.stderr.on('data', (d) => (stderr += d));
const redis = new Redis(o['redis-url']);
const cleanup = async () => {
  if (child.exitCode === null) child.kill('SIGKILL');
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
  redis.disconnect();
  rmSync(outDir, { recursive: true, force: true });
};
const base = `http://127.0.0.1:${port}`;
const deadline = Date.now() + 900_000;
for (;;) {
  if (child.exitCode !== null) throw new Error(`server exited: ${stderr}`);
  if (Date.now() > deadline) throw new Error('server not ready');
  const ok = await fetch(base + '/readyz').then((r) => r.status === 200, () => false);
  if (ok) break;
  await new Promise((r) => setTimeout(r, 500));
}
// One reliable message per user, so each connect replays one.
async function seed(users) {
  for (let i = 0; i < users.length; i += 100) {
    const r = await fetch(base + '/api/v1/publish/batch', {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: users.slice(i, i + 100).map((u) => ({ to: { user: u }, data: { hello: u } })) }),
    });
    if (r.status !== 200) throw new Error(`seed: ${r.status} ${await r.text()}`);
  }
}
const sockets = [];
function connectOne(user) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${token(user)}&device=d`);
    sockets.push(ws);
    let welcome = false;
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString());
      if (f.type === 'welcome') welcome = true;
      else if (f.type === 'message' && welcome) resolve();
    });
    ws.on('error', reject);
    ws.on('close', (code) => reject(new Error(`closed ${code} before the replay (${user})`)));
  });
}
async function connectMany(users) {
  let next = 0;
  await Promise.all(Array.from({ length: C }, async () => {
    while (next < users.length) await connectOne(users[next++]);
  }));
}
const { cg, readTotal } = callgrindOf(child.pid, outDir);
try {
  const warm = Array.from({ length: W }, (_, i) => `w${i}`);
  const measured = Array.from({ length: M }, (_, i) => `m${i}`);
  await seed([...warm, ...measured]);
  await connectMany(warm);
  cg('--instr=on');
  cg('-z');
  const t0 = Date.now();
  await connectMany(measured);
  const ms = Date.now() - t0;
  const count = readTotal(o.keep);
  await new Promise((r) => setTimeout(r, ms));
  const idle = readTotal(o.keep && `${o.keep}.idle`);
  const per = (count - idle) / M;
  process.stdout.write(`${M} connects (after ${W} warm-up) in ${ms} ms: ${count} instructions (idle window ${idle}); ${Math.round(per).toLocaleString('en-US')} instructions per connect\n`);
} finally {
  for (const ws of sockets) ws.terminate();
  await cleanup();
}
