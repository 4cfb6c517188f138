/**
 * Where the CPU of a connect burst goes (issue 20, capacity on Redis): CPU
 * seconds from /proc of every process of the run between the start and the
 * end of the connect phase — each server node, the client processes, the
 * orchestrator, the Redis server — and what the machine's other processes
 * and the kernel's softirq time (loopback TCP) used meanwhile, with Redis'
 * own per-command accounting (INFO commandstats) before and after. Counts
 * per 1,000 connects repeat on a busy machine far better than connects/s.
 *
 * The same meter takes each node's memory apart before the connect phase and
 * at the end of the hold: RSS (anonymous and file-backed, /proc), V8's heap
 * committed per space and used, and memory outside the V8 heap (Herald's
 * /metrics, prom-client's nodejs_* gauges), so RSS per connection splits into
 * live heap, heap committed but free (e.g. the young generation grown by the
 * burst) and native memory.
 *
 * Measurement only: it reads /proc, asks Redis INFO and reads /metrics; it
 * changes nothing a target does.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { CLK_TCK, parseStatCpuTicks } from './procstat.js';
import type { Progress } from './progress.js';
import { redisCommand } from './redisKeys.js';

interface CpuMark {
  atMs: number;
  /** pid → utime+stime ticks. */
  ticks: Map<number, number>;
  /** /proc/stat "cpu" line: user+nice+system, softirq, idle+iowait, all in ticks. */
  busy: number;
  softirq: number;
  idle: number;
  /** INFO commandstats: command → [calls, usec]. */
  redis: Map<string, [number, number]> | undefined;
}

export interface ConnectCpu {
  connects: number;
  wallSeconds: number;
  /** CPU seconds per 1,000 connects. */
  perThousand: { servers: number; perServer: number[]; clients: number; orchestrator: number; redis: number | undefined; softirq: number; other: number; idle: number };
  /** Redis commands in the phase per connect, and Redis' own µs per connect (commandstats). */
  redisCommands: Array<{ command: string; perConnect: number; usecPerCall: number }>;
  redisUsecPerConnect: number | undefined;
}

function ticksOf(pid: number): number {
  try {
    return parseStatCpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return 0;
  }
}

/** Children of `parent` (their pids), from /proc. */
export function childPids(parent: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === parent) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

/** INFO commandstats text → command → [calls, usec]. */
export function parseCommandStats(text: string): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) out.set(m[1] as string, [Number(m[2]), Number(m[3])]);
  }
  return out;
}

function machine(): { busy: number; softirq: number; idle: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu ')) ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0), softirq: (f[6] ?? 0) + (f[5] ?? 0), idle: (f[3] ?? 0) + (f[4] ?? 0) };
}

/** One node's memory, bytes. */
export interface NodeMemory {
  rss: number;
  rssAnon: number;
  heapTotal: number;
  heapUsed: number;
  /** Committed size of V8's young generation (both semi-spaces), and of the old space. */
  newSpace: number;
  oldSpace: number;
  external: number;
}

const MEMORY_FIELDS: Array<[keyof NodeMemory, string]> = [
  ['heapTotal', 'nodejs_heap_size_total_bytes'],
  ['heapUsed', 'nodejs_heap_size_used_bytes'],
  ['external', 'nodejs_external_memory_bytes'],
];

function promSample(text: string, name: string, label = ''): number | undefined {
  const re = new RegExp(`^${name}${label ? `\\{[^}]*${label}[^}]*\\}` : '(?:\\{[^}]*\\})?'}\\s+([0-9.eE+-]+)`, 'm');
  const m = re.exec(text);
  return m && m[1] !== undefined ? Number(m[1]) : undefined;
}

/** A node's memory from /proc/<pid>/status and its /metrics text. */
export function nodeMemory(status: string, metrics: string): NodeMemory {
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  const m: NodeMemory = { rss: kb('VmRSS'), rssAnon: kb('RssAnon'), heapTotal: 0, heapUsed: 0, newSpace: 0, oldSpace: 0, external: 0 };
  for (const [k, name] of MEMORY_FIELDS) m[k] = promSample(metrics, name) ?? 0;
  m.newSpace = promSample(metrics, 'nodejs_heap_space_size_total_bytes', 'space="new"') ?? 0;
  m.oldSpace = promSample(metrics, 'nodejs_heap_space_size_total_bytes', 'space="old"') ?? 0;
  return m;
}

export interface NodeMemoryDelta {
  url: string;
  connections: number;
  before: NodeMemory;
  after: NodeMemory;
}

export class ConnectCpuMeter {
  private memBefore: NodeMemory[] | undefined;
  private memAfter: NodeMemory[] | undefined;
  private memTimer: NodeJS.Timeout | undefined;
  private memPending: Promise<void> = Promise.resolve();
  private start: CpuMark | undefined;
  private end: CpuMark | undefined;
  private clients: number[] = [];
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly servers: number[],
    private readonly redisPid: number | undefined,
    private readonly redisUrl: string | undefined,
    /** Each node's base URL and API key, for its /metrics (memory outside /proc). */
    private readonly nodes: { urls: string[]; apiKey: string } | undefined = undefined,
  ) {}

  private async memory(): Promise<NodeMemory[] | undefined> {
    const n = this.nodes;
    if (!n) return undefined;
    try {
      return await Promise.all(
        n.urls.map(async (u, i) => {
          const res = await fetch(new URL('/metrics', u), { headers: { authorization: `Bearer ${n.apiKey}` }, signal: AbortSignal.timeout(5000) });
          const text = await res.text();
          return nodeMemory(readFileSync(`/proc/${this.servers[i] ?? 0}/status`, 'utf8'), text);
        }),
      );
    } catch {
      return undefined;
    }
  }

  /** A progress display that also marks the connect phase (runScenario's 'connect' … next phase). */
  wrap(inner: Progress): Progress {
    return {
      phase: (name, total) => {
        if (name === 'connect') {
          this.memPending = this.memory().then((m) => void (this.memBefore = m));
          this.pending = this.pending.then(() => this.mark('start'));
        } else if (this.start && !this.end) this.pending = this.pending.then(() => this.mark('end'));
        // The end of the hold (runScenario reads the nodes' RSS right after it): memory apart.
        if (name === 'hold') {
          this.memTimer = setTimeout(() => {
            this.memPending = this.memPending.then(() => this.memory()).then((m) => void (this.memAfter = m));
          }, Math.max(0, total * 1000 - 700));
        }
        inner.phase(name, total);
      },
      update: (v, info) => inner.update(v, info),
      stop: () => inner.stop(),
    };
  }

  private async mark(which: 'start' | 'end'): Promise<void> {
    if (which === 'start') this.clients = childPids(process.pid).filter((p) => !this.servers.includes(p));
    const pids = [...this.servers, ...this.clients, process.pid, ...(this.redisPid !== undefined ? [this.redisPid] : [])];
    const ticks = new Map(pids.map((p) => [p, ticksOf(p)] as const));
    const m = { atMs: Date.now(), ticks, ...machine(), redis: undefined as CpuMark['redis'] };
    if (which === 'start') this.start = m;
    else this.end = m;
    if (this.redisUrl) {
      try {
        m.redis = parseCommandStats(String(await redisCommand(this.redisUrl, 'INFO', 'commandstats')));
      } catch {
        // figures without Redis' own accounting
      }
    }
  }

  /** Each node's memory before the connect phase and near the end of the hold. */
  async memoryResult(urls: string[], connections: number[]): Promise<NodeMemoryDelta[] | undefined> {
    await this.memPending;
    if (this.memTimer) clearTimeout(this.memTimer);
    const b = this.memBefore;
    const a = this.memAfter;
    if (!b || !a) return undefined;
    return urls.map((url, i) => ({ url, connections: connections[i] ?? 0, before: b[i] as NodeMemory, after: a[i] as NodeMemory }));
  }

  async result(connects: number): Promise<ConnectCpu | undefined> {
    await this.pending;
    const a = this.start;
    const b = this.end;
    if (!a || !b || connects <= 0) return undefined;
    const sec = (pid: number): number => ((b.ticks.get(pid) ?? 0) - (a.ticks.get(pid) ?? 0)) / CLK_TCK;
    const k = 1000 / connects;
    const round = (x: number): number => Math.round(x * 1000) / 1000;
    const perServer = this.servers.map((p) => round(sec(p) * k));
    const servers = this.servers.reduce((s, p) => s + sec(p), 0);
    const clients = this.clients.reduce((s, p) => s + sec(p), 0);
    const orch = sec(process.pid);
    const redis = this.redisPid !== undefined ? sec(this.redisPid) : undefined;
    const ours = servers + clients + orch + (redis ?? 0);
    const other = Math.max(0, (b.busy - a.busy) / CLK_TCK - ours);
    const commands: ConnectCpu['redisCommands'] = [];
    let usec = 0;
    if (a.redis && b.redis) {
      for (const [cmd, [calls, us]] of b.redis) {
        const [c0, u0] = a.redis.get(cmd) ?? [0, 0];
        if (calls - c0 <= 0) continue;
        usec += us - u0;
        commands.push({ command: cmd, perConnect: round((calls - c0) / connects), usecPerCall: Math.round(((us - u0) / (calls - c0)) * 100) / 100 });
      }
      commands.sort((x, y) => y.perConnect - x.perConnect);
    }
    return {
      connects,
      wallSeconds: round((b.atMs - a.atMs) / 1000),
      perThousand: {
        servers: round(servers * k),
        perServer,
        clients: round(clients * k),
        orchestrator: round(orch * k),
        redis: redis === undefined ? undefined : round(redis * k),
        softirq: round(((b.softirq - a.softirq) / CLK_TCK) * k),
        other: round(other * k),
        idle: round(((b.idle - a.idle) / CLK_TCK) * k),
      },
      redisCommands: commands,
      redisUsecPerConnect: a.redis && b.redis ? Math.round((usec / connects) * 10) / 10 : undefined,
    };
  }
}

export function formatConnectCpu(c: ConnectCpu): string {
  const p = c.perThousand;
  const lines = [
    `CPU seconds per 1,000 connects (connect phase, ${c.connects.toLocaleString('en-US')} connects in ${c.wallSeconds} s): Herald ${p.servers} (${p.perServer.join(' / ')} per node), clients ${p.clients}, orchestrator ${p.orchestrator}, Redis ${p.redis ?? 'n/a'}, softirq ${p.softirq}, other processes ${p.other}, idle ${p.idle}`,
  ];
  if (c.redisCommands.length > 0) {
    lines.push(
      `Redis commands per connect (INFO commandstats, whole server): ${c.redisCommands.map((r) => `${r.command} ${r.perConnect} (${r.usecPerCall} µs)`).join(', ')}; Redis' own time ${c.redisUsecPerConnect} µs per connect`,
    );
  }
  return lines.join('\n');
}

/** Per connection (KB): RSS, anonymous RSS, V8 committed, young generation, old space, heap used, external; and what RSS holds beyond V8's committed heap. */
export function formatMemory(rows: NodeMemoryDelta[]): string {
  const kb = (x: number, n: number): string => (n > 0 ? (x / n / 1024).toFixed(2) : 'n/a');
  const mb = (x: number): string => (x / 1048576).toFixed(1);
  const lines = [
    '| node | conns | RSS MB (Δ/conn KB) | V8 committed MB (Δ KB) | young gen MB (Δ KB) | old space MB (Δ KB) | heap used MB (Δ KB) | external MB (Δ KB) | RSS − V8 committed (Δ KB) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const d = (k: keyof NodeMemory): number => r.after[k] - r.before[k];
    const n = r.connections;
    lines.push(
      `| ${r.url} | ${n} | ${mb(r.after.rss)} (${kb(d('rss'), n)}) | ${mb(r.after.heapTotal)} (${kb(d('heapTotal'), n)}) | ${mb(r.after.newSpace)} (${kb(d('newSpace'), n)}) | ${mb(r.after.oldSpace)} (${kb(d('oldSpace'), n)}) | ${mb(r.after.heapUsed)} (${kb(d('heapUsed'), n)}) | ${mb(r.after.external)} (${kb(d('external'), n)}) | ${kb(d('rss') - d('heapTotal'), n)} |`,
    );
  }
  return lines.join('\n');
}
