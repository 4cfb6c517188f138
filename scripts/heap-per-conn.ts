/**
 * What one authenticated connection holds on the server's heap (issue 20).
 *
 *   npm run build --silent
 *   npx tsx scripts/heap-per-conn.ts [--connections 10000] [--engine memory|redis]
 *        [--redis-url redis://127.0.0.1:6379] [--top 30] [--out /tmp/heap-per-conn] [--keep] [--cost-only] [--promoted]
 *        [--target herald|raw]
 *
 * A child process runs one Herald node (the built packages/server/dist, as in
 * production). This process opens the connections (so client objects never
 * land on the measured heap), each a distinct user with a URL token, and waits
 * for every welcome. The child writes a heap snapshot (which runs a full GC
 * first) before and after; the table is the difference of self sizes and
 * object counts per constructor / closure / internal type, scaled to 10,000
 * connections, largest first. Self sizes add up to the heap growth (retained
 * sizes would count shared objects several times). RSS and heap figures from
 * process.memoryUsage() are printed too: sockets and their buffers live
 * partly outside the V8 heap.
 *
 * Redis: the node uses a random key prefix and deletes its keys afterwards.
 *
 * `--target raw`: the child runs a bare `ws` server instead of Herald, holding per connection what
 * packages/bench's rawWsServer holds (its connection record, a Set per user, its two listeners),
 * so the table shows the floor of ws + net.Socket measured the same way (engine options ignored).
 *
 * The cost of a connect (issue 20, counts that repeat on a busy machine): for the measured
 * connections only, the node's CPU time (process.cpuUsage) and the bytes it allocated (V8's
 * sampling heap profiler, objects collected since included: everything the connect path
 * allocated, garbage or not), per connection, with the functions that allocated most; and V8's
 * old space and young generation as the burst left them (before the snapshot's full GC), which
 * is what RSS holds. `--cost-only` skips the snapshots (much faster: for before/after runs);
 * `--promoted` counts only the allocations that survived the young generation (objects collected by
 * a scavenge left out): what a connect burst promotes to old space, live or garbage.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from 'node:inspector';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { WebSocket } from 'ws';

/** The built server; HERALD_HEAP_SERVER=<absolute path to another build's dist/index.js> measures another build. */
const SERVER = process.env.HERALD_HEAP_SERVER ?? '../packages/server/dist/index.js';
/** Connections opened (and held) before the first snapshot. */
const WARM_UP = 1000;

interface Args {
  connections: number;
  engine: 'memory' | 'redis';
  redisUrl: string;
  top: number;
  out: string;
  /** Keep the snapshot files (to open them in DevTools). */
  keep: boolean;
  /** No heap snapshots: only the cost figures. */
  costOnly: boolean;
  /** Count only what survived the young generation (was promoted to old space), not everything allocated. */
  promoted: boolean;
  /** Herald, or a bare ws server (the comparison's floor). */
  target: 'herald' | 'raw';
}

function parseArgs(argv: string[]): Args {
  const a: Args = { connections: 10_000, engine: 'memory', redisUrl: 'redis://127.0.0.1:6379', top: 30, out: '/tmp/heap-per-conn', keep: false, costOnly: false, promoted: false, target: 'herald' };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--connections':
        a.connections = Number(v);
        i++;
        break;
      case '--engine':
        if (v !== 'memory' && v !== 'redis') throw new Error('--engine: memory or redis');
        a.engine = v;
        i++;
        break;
      case '--target':
        if (v !== 'herald' && v !== 'raw') throw new Error('--target: herald or raw');
        a.target = v;
        i++;
        break;
      case '--redis-url':
        a.redisUrl = String(v);
        i++;
        break;
      case '--top':
        a.top = Number(v);
        i++;
        break;
      case '--keep':
        a.keep = true;
        break;
      case '--cost-only':
        a.costOnly = true;
        break;
      case '--promoted':
        a.promoted = true;
        break;
      case '--out':
        a.out = String(v);
        i++;
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  if (!Number.isInteger(a.connections) || a.connections < 100 || a.connections > 14_000) throw new Error('--connections: 100..14000 (one client process, open-files limit)');
  return a;
}

// ---- child: the measured node ----

interface ChildStart {
  promoted: boolean;
  engine: Args['engine'];
  redisUrl: string;
  prefix: string;
  secret: string;
  out: string;
  target: Args['target'];
}
interface MemoryFigures {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

async function child(): Promise<void> {
  // Never outlive the measuring process.
  process.on('disconnect', () => process.exit(0));
  const start = await new Promise<ChildStart>((r) => process.once('message', (m) => r(m as ChildStart)));
  const node = start.target === 'raw' ? await startRaw(start.secret) : await startNode(start);
  process.send!({ port: node.port });
  measure(start, node);
}

/** A bare ws server holding per connection what packages/bench/src/servers/rawWsServer.ts holds. */
async function startRaw(secret: string): Promise<{ port: number; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const { WebSocketServer } = await import('ws');
  const { verifyHs256 } = await import('@herald/testkit');
  const users = new Map<string, Set<{ ws: WebSocket; user: string; rooms: string[] }>>();
  const http = createServer((_req, res) => res.end());
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
  http.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const claims = verifyHs256(url.searchParams.get('token') ?? '', secret);
    if (!claims) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const c = { ws, user: claims.sub, rooms: [] as string[] };
      let set = users.get(c.user);
      if (!set) users.set(c.user, (set = new Set()));
      set.add(c);
      ws.send(`{"type":"welcome","user":${JSON.stringify(c.user)},"heartbeat_ms":0,"last_seq":0}`);
      ws.on('message', (raw) => {
        if (raw.toString() === 'ping') ws.send('pong');
      });
      ws.on('close', () => {
        users.get(c.user)?.delete(c);
        if (users.get(c.user)?.size === 0) users.delete(c.user);
      });
      ws.on('error', () => undefined);
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as { port: number }).port;
  return { port, close: () => new Promise<void>((r) => http.close(() => r())) };
}

async function startNode(start: ChildStart): Promise<{ port: number; close(): Promise<void> }> {
  const { startHerald } = (await import(SERVER)) as typeof import('../packages/server/src/index.js');
  return startHerald({
    port: 0,
    host: '127.0.0.1',
    jwtSecret: start.secret,
    apiKey: 'heap-per-conn-key-0123456789',
    logLevel: 'warn',
    // One client address opens every connection: no per-address connect rate here.
    connectRatePerIp: 0,
    // A busy shared machine must not make the node refuse connections (1013) mid-measurement.
    shedEventLoopDelayMs: 0,
    // Nor close clients it starved of CPU as silent: the heartbeat timer is held either way.
    heartbeatMs: 600_000,
    engine: start.engine,
    ...(start.engine === 'redis' ? { redisUrl: start.redisUrl, redisKeyPrefix: start.prefix, ingestEnabled: false } : {}),
  } as never);
}

function measure(start: ChildStart, node: { close(): Promise<void> }): void {
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params: object = {}): Promise<T> => new Promise<T>((res, rej) => session.post(method, params, (e, r) => (e ? rej(e) : res(r as T))));
  let cpu0: NodeJS.CpuUsage | undefined;
  process.on('message', (m: { snap?: string; stop?: boolean; cost?: 'start' | 'stop' }) => {
    if (m.cost === 'start') {
      void post('HeapProfiler.enable')
        .then(() => post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: !start.promoted }))
        .then(() => {
          cpu0 = process.cpuUsage();
          process.send!({ costStarted: true });
        });
    } else if (m.cost === 'stop') {
      const cpu = process.cpuUsage(cpu0);
      const spaces = Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, { size: x.space_size, used: x.space_used_size }]));
      const rss = process.memoryUsage().rss;
      void post<{ profile: SamplingProfile }>('HeapProfiler.stopSampling').then(({ profile }) => process.send!({ cpuUs: cpu.user + cpu.system, alloc: allocationSummary(profile), spaces, rss }));
    } else if (m.snap !== undefined) {
      const file = writeHeapSnapshot(join(start.out, `${m.snap}.heapsnapshot`));
      const u = process.memoryUsage();
      process.send!({ file, mem: { rss: u.rss, heapUsed: u.heapUsed, external: u.external, arrayBuffers: u.arrayBuffers } satisfies MemoryFigures });
    } else if (m.stop) {
      void node.close().then(() => process.exit(0));
    }
  });
}

// ---- allocation summary (sampling heap profile) ----

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}
interface SamplingProfile {
  head: SamplingNode;
}
interface AllocationSummary {
  total: number;
  byFunction: [string, number][];
  byFile: [string, number][];
}

/** Sampled bytes in all, per function and per file (node_modules package or workspace path). */
function allocationSummary(p: SamplingProfile): AllocationSummary {
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  const walk = (n: SamplingNode): void => {
    if (n.selfSize > 0) {
      const file = (n.callFrame.url || '(native)').replace(/.*node_modules\//, '').replace(/.*\/packages\//, '');
      const key = `${n.callFrame.functionName || '(anonymous)'} ${file}:${n.callFrame.lineNumber + 1}`;
      total += n.selfSize;
      byFn.set(key, (byFn.get(key) ?? 0) + n.selfSize);
      byFile.set(file, (byFile.get(file) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c);
  };
  walk(p.head);
  const top = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1]).slice(0, 25);
  return { total, byFunction: top(byFn), byFile: top(byFile) };
}

// ---- snapshot summary ----

interface Row {
  size: number;
  count: number;
}

/** Self size and count per group: constructor name for objects, function name for closures, the type otherwise. */
export function summarize(file: string): Map<string, Row> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const f = snap.snapshot.meta.node_fields;
  const stride = f.length;
  const iType = f.indexOf('type');
  const iName = f.indexOf('name');
  const iSize = f.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const out = new Map<string, Row>();
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const type = types[snap.nodes[i + iType]!]!;
    const name = snap.strings[snap.nodes[i + iName]!]!;
    let key: string;
    if (type === 'object' || type === 'native') key = name;
    else if (type === 'closure') key = `(closure) ${name || '(anonymous)'}`;
    else if (type === 'string' || type === 'concatenated string' || type === 'sliced string') key = '(string)';
    else if (type === 'array') key = `(array) ${name}`;
    else if (type === 'code') key = '(compiled code)';
    else key = `(${type}) ${name.length > 40 ? name.slice(0, 40) + '…' : name}`;
    const r = out.get(key);
    const size = snap.nodes[i + iSize]!;
    if (r) {
      r.size += size;
      r.count++;
    } else out.set(key, { size, count: 1 });
  }
  return out;
}

function diffTable(before: Map<string, Row>, after: Map<string, Row>, opened: number, top: number): string {
  // Scaled by the Connection objects added, not the sockets opened: a client the busy machine lost
  // before the second snapshot must not count as a connection that holds nothing.
  const added = (after.get('Connection')?.count ?? 0) - (before.get('Connection')?.count ?? 0);
  const n = added > 0 ? added : opened;
  const scale = 10_000 / n;
  const rows: { key: string; size: number; count: number }[] = [];
  for (const [key, a] of after) {
    const b = before.get(key) ?? { size: 0, count: 0 };
    rows.push({ key, size: (a.size - b.size) * scale, count: (a.count - b.count) * scale });
  }
  for (const [key, b] of before) if (!after.has(key)) rows.push({ key, size: -b.size * scale, count: -b.count * scale });
  const total = rows.reduce((s, r) => s + r.size, 0);
  rows.sort((x, y) => y.size - x.size);
  const lines = [`(${n} connections held at the second snapshot, of ${opened} opened)`, '', '| constructor / type | objects per 10k conns | self size per 10k conns | bytes per conn |', '|---|---:|---:|---:|'];
  let shown = 0;
  for (const r of rows.slice(0, top)) {
    shown += r.size;
    lines.push(`| ${r.key.replace(/\|/g, '\\|')} | ${Math.round(r.count).toLocaleString('en')} | ${(r.size / 1024 / 1024).toFixed(2)} MB | ${Math.round(r.size / 10_000)} |`);
  }
  lines.push(`| (all others) | | ${((total - shown) / 1024 / 1024).toFixed(2)} MB | ${Math.round((total - shown) / 10_000)} |`);
  lines.push(`| **total heap growth** | | **${(total / 1024 / 1024).toFixed(2)} MB** | **${Math.round(total / 10_000)}** |`);
  return lines.join('\n');
}

// ---- parent: clients and report ----

async function connectAll(port: number, n: number, secret: string, from = 0): Promise<WebSocket[]> {
  const { mintToken } = (await import(SERVER)) as typeof import('../packages/server/src/index.js');
  const sockets: WebSocket[] = [];
  const inFlight = 200;
  let next = from;
  const end = from + n;
  const one = async (i: number): Promise<void> => {
    const token = await mintToken({ secret, sub: `u${i}`, ttlSec: 3600 });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${encodeURIComponent(token)}&device=d${i}&platform=other`, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('message', (data) => (String(data).includes('"welcome"') ? resolve() : reject(new Error(`first frame: ${String(data).slice(0, 200)}`))));
      ws.once('error', reject);
      ws.once('close', (code, why) => reject(new Error(`closed ${code} ${String(why)}`)));
    });
    ws.removeAllListeners('close');
    ws.on('error', () => {});
    sockets.push(ws);
  };
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < end) await one(next++);
    }),
  );
  process.stderr.write(`${n} connections in ${Date.now() - t0} ms\n`);
  return sockets;
}

async function main(): Promise<void> {
  if (process.argv.includes('--child')) return child();
  const a = parseArgs(process.argv.slice(2));
  mkdirSync(a.out, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  const prefix = `herald-heap-${randomBytes(4).toString('hex')}:`;
  // The node's output goes to stderr: stdout is the report.
  const proc = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: ['ignore', 2, 2, 'ipc'] });
  const reply = <T>(): Promise<T> => new Promise<T>((r) => proc.once('message', (m) => r(m as T)));
  proc.send({ engine: a.engine, redisUrl: a.redisUrl, prefix, secret, out: a.out, promoted: a.promoted, target: a.target } satisfies ChildStart);
  const { port } = await reply<{ port: number }>();
  const snap = async (name: string): Promise<{ file: string; mem: MemoryFigures }> => {
    proc.send({ snap: name });
    return reply();
  };
  // Warm-up connections, held through both snapshots: code compiled and caches filled on the
  // first connections are not counted as per-connection memory.
  const warm = await connectAll(port, WARM_UP, secret, 1_000_000);
  await new Promise((r) => setTimeout(r, 1000));
  const before = a.costOnly ? undefined : await snap('before');
  proc.send({ cost: 'start' });
  await reply();
  const sockets = await connectAll(port, a.connections, secret);
  // Let deferred work (presence writes, subscription flushes, cursor writes) settle.
  await new Promise((r) => setTimeout(r, 2000));
  proc.send({ cost: 'stop' });
  const cost = await reply<{ cpuUs: number; alloc: AllocationSummary; spaces: Record<string, { size: number; used: number }>; rss: number }>();
  const after = a.costOnly ? undefined : await snap('after');
  for (const ws of [...warm, ...sockets]) ws.terminate();
  proc.send({ stop: true });
  const kb = (x: number) => ((x / a.connections) * 1024 ** -1).toFixed(2);
  const mb = (x: number | undefined) => ((x ?? 0) / 1048576).toFixed(1);
  process.stdout.write(`${a.target === 'raw' ? 'raw ws (no engine)' : `engine ${a.engine}`}, ${a.connections} connections, node ${process.version}\n`);
  const sp = cost.spaces;
  process.stdout.write(
    `cost per connect: CPU ${(cost.cpuUs / a.connections).toFixed(0)} µs, ${a.promoted ? 'promoted to old space' : 'allocated'} ${kb(cost.alloc.total)} KB (sampled); after the burst (no GC forced): RSS ${mb(cost.rss)} MB, old space ${mb(sp.old_space?.size)} MB committed / ${mb(sp.old_space?.used)} MB used, young generation ${mb(sp.new_space?.size)} MB\n` +
      `allocated per connect, by file: ${cost.alloc.byFile.slice(0, 12).map(([k, v]) => `${k} ${kb(v)}`).join(', ')}\n` +
      `allocated per connect, by function (KB):\n${cost.alloc.byFunction.map(([k, v]) => `  ${kb(v).padStart(6)}  ${k}`).join('\n')}\n\n`,
  );
  if (before && after) {
    const m0 = before.mem;
    const m1 = after.mem;
    process.stdout.write(
      `per connection: rss ${kb(m1.rss - m0.rss)} KB, heapUsed ${kb(m1.heapUsed - m0.heapUsed)} KB, external ${kb(m1.external - m0.external)} KB, arrayBuffers ${kb(m1.arrayBuffers - m0.arrayBuffers)} KB\n\n`,
    );
    process.stdout.write(diffTable(summarize(before.file), summarize(after.file), a.connections, a.top) + '\n');
    if (!a.keep) {
      rmSync(before.file, { force: true });
      rmSync(after.file, { force: true });
    }
  }
  if (a.engine === 'redis') {
    const { Redis } = await import('ioredis');
    const r = new Redis(a.redisUrl);
    let cursor = '0';
    do {
      const [c, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = c;
      if (keys.length > 0) await r.unlink(...keys);
    } while (cursor !== '0');
    r.disconnect();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
