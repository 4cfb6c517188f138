/**
 * Real Herald processes (`node packages/server/bin/herald.js serve`) on the
 * Redis engine: start, wait ready, kill -9, restart on the same port, stop, and
 * read their health (/metrics, /admin/api/stats, RSS from /proc).
 *
 * A node may run `serve --workers N` (node:cluster): a primary and N worker
 * processes sharing the port. It is started in its own process group so that
 * kill -9 takes the primary and every worker at once (a machine crash, not a
 * worker crash the primary would repair), and its health is the sum over the
 * workers: the shared port hands each HTTP request to the next worker, so the
 * suite reads until it has heard from every worker (each names itself: the
 * `node` label of /metrics, `node` of the admin feed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { track } from './children.js';
import { httpRequest, metricSum } from './http.js';
import { freePort, isRunning, killAndWait } from '@herald/testkit';
import { alive, forgetGroup, groupPids, killGroupOnExit, openFds, processRss } from './procfs.js';
import { waitFor } from './wait.js';

/** The server under test; HERALD_STRESS_BIN points the suite at another build (e.g. a candidate fix). */
export const HERALD_BIN = process.env.HERALD_STRESS_BIN ?? fileURLToPath(new URL('../../server/bin/herald.js', import.meta.url));
const SERVER_DIST = fileURLToPath(new URL('../dist/cli/main.js', pathToFileURL(HERALD_BIN)));

export interface ClusterSettings {
  jwtSecret: string;
  apiKey: string;
  redisUrl: string;
  prefix: string;
  /** Extra HERALD_* variables (limits, timeouts) for every node. */
  env: Record<string, string>;
}

export interface NodeHealth {
  connections: number;
  users: number;
  rooms: number;
  handles: number;
  heapUsed: number;
  rss: number;
  engineUp: boolean;
  disconnectsByCode: Record<string, number>;
  limitRejections: Record<string, number>;
  /** Event-loop delay p99 over the server's last window, seconds (max over workers); -1 when not exposed. */
  loopLagP99: number;
  /** Open file descriptors of the node's processes (/proc/<pid>/fd, summed over primary and workers). */
  openFds: number;
}

/** One worker's (or a single node's) reading. */
interface Reading {
  node: string;
  metrics: string;
  admin: AdminStats;
}

interface AdminStats {
  node: string;
  local: { connections: number; users: number; rooms: number };
  engineUp: boolean;
  disconnectsByCode: Record<string, number>;
  limitRejections: Record<string, number>;
}

export class HeraldProcess {
  private proc: ChildProcess | undefined;
  private output = '';
  /** Idle health right after (re)start: the reference for leak and memory checks. */
  baseline: NodeHealth | undefined;
  starts = 0;

  constructor(
    readonly id: string,
    readonly port: number,
    private readonly s: ClusterSettings,
    /** `serve --workers N` when ≥ 2; 0 or 1: a single process. */
    readonly workers = 0,
  ) {}

  static async create(id: string, s: ClusterSettings, workers = 0): Promise<HeraldProcess> {
    if (!existsSync(SERVER_DIST)) throw new Error(`the server is not built (${SERVER_DIST} missing): run \`npm run build\` first`);
    return new HeraldProcess(id, await freePort(), s, workers);
  }

  /**
   * Whether a connection whose welcome names `nodeId` is held by this node: a workers node's
   * workers name themselves `<id>-w<slot>` (cli/workers.ts), never `<id>`.
   */
  hosts(nodeId: string | undefined): boolean {
    if (nodeId === undefined) return false;
    if (this.workers < 2) return nodeId === this.id;
    return nodeId.startsWith(`${this.id}-w`) && /^\d+$/.test(nodeId.slice(this.id.length + 2));
  }

  /** Processes answering on the port: the workers, or the node itself. */
  get processes(): number {
    return this.workers >= 2 ? this.workers : 1;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  isRunning(): boolean {
    return isRunning(this.proc);
  }

  /** Recent stdout/stderr of the process (for failure reports). */
  tail(): string {
    return this.output.slice(-3000);
  }

  async start(): Promise<void> {
    if (this.isRunning()) throw new Error(`${this.id} already running`);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HERALD_PORT: String(this.port),
      HERALD_HOST: '127.0.0.1',
      HERALD_NODE_ID: this.id,
      HERALD_JWT_SECRET: this.s.jwtSecret,
      HERALD_API_KEY: this.s.apiKey,
      HERALD_ENGINE: 'redis',
      HERALD_REDIS_URL: this.s.redisUrl,
      HERALD_REDIS_KEY_PREFIX: this.s.prefix,
      HERALD_LOG_LEVEL: process.env.HERALD_STRESS_NODE_LOG_LEVEL ?? 'warn',
      ...this.s.env,
    };
    const multi = this.workers >= 2;
    const args = multi ? [HERALD_BIN, 'serve', '--workers', String(this.workers)] : [HERALD_BIN, 'serve'];
    // A workers node leads its own process group: kill9() and the exit hook signal the whole group.
    const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: multi });
    this.proc = proc;
    this.starts++;
    track(proc);
    if (multi && proc.pid !== undefined) killGroupOnExit(proc.pid);
    // HERALD_STRESS_NODE_LOGS=<dir>: every node's whole output also goes to <dir>/<id>.log (for diagnosing a failed seed).
    const logDir = process.env.HERALD_STRESS_NODE_LOGS;
    const keep = (d: Buffer): void => {
      this.output = (this.output + d.toString()).slice(-20_000);
      if (logDir) appendFileSync(join(logDir, `${this.id}.log`), d);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    await waitFor(`${this.id} ready on port ${this.port}`, async () => {
      if (proc.exitCode !== null) throw new Error(`${this.id} exited with ${proc.exitCode}: ${this.tail()}`);
      const r = await httpRequest(this.port, 'GET', '/readyz', { timeoutMs: 2000 });
      if (r.status !== 200) return false;
      // The port answers as soon as one worker listens: wait for all of them.
      return this.processes === 1 || (await this.readAll().catch(() => undefined))?.every((x) => x.admin.engineUp) === true;
      // Generous: on a loaded 2-core machine a start (three processes for a workers node) can take a while.
    }, this.processes === 1 ? 60_000 : 90_000, 100);
  }

  /** kill -9: no drain, no cleanup, sockets reset by the kernel. A workers node: the whole process group. */
  async kill9(): Promise<void> {
    const p = this.proc;
    if (this.workers >= 2 && p?.pid !== undefined && isRunning(p)) {
      const pids = groupPids(p.pid);
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
      // Workers are gone when their /proc entries are (bounded: SIGKILL cannot be caught).
      await waitFor(`${this.id} workers gone`, () => pids.every((pid) => !alive(pid)), 5000, 20);
      forgetGroup(p.pid);
      return;
    }
    await killAndWait(p, 'SIGKILL');
  }

  /** SIGTERM (graceful drain), SIGKILL if it outlasts `ms`. */
  async stop(ms = 15_000): Promise<void> {
    const p = this.proc;
    if (this.workers < 2 || p?.pid === undefined || !isRunning(p)) {
      await killAndWait(p, 'SIGTERM', ms);
      return;
    }
    // The primary stops its workers gracefully; a worker outliving it (SIGKILL after `ms`) goes with the group.
    const pids = groupPids(p.pid);
    await killAndWait(p, 'SIGTERM', ms);
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      // the group is empty
    }
    await waitFor(`${this.id} workers gone`, () => pids.every((pid) => !alive(pid)), 5000, 20);
    forgetGroup(p.pid);
  }

  /** PIDs of the node: the process, plus its workers. */
  pids(): number[] {
    const pid = this.proc?.pid;
    if (pid === undefined) return [];
    return this.workers >= 2 ? groupPids(pid) : [pid];
  }

  /** Resident set size from /proc/<pid>/status, bytes (primary + workers). */
  rssBytes(): number {
    return this.pids().reduce((a, pid) => a + processRss(pid), 0);
  }

  /** The /metrics page of every process of the node (each worker of a workers node). */
  async metricsPages(): Promise<string[]> {
    return (await this.readAll()).map((r) => r.metrics);
  }

  async health(): Promise<NodeHealth> {
    const rs = await this.readAll();
    const sum = (f: (r: Reading) => number): number => rs.reduce((a, r) => a + f(r), 0);
    const merge = (f: (r: Reading) => Record<string, number>): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const r of rs) for (const [k, v] of Object.entries(f(r))) out[k] = (out[k] ?? 0) + v;
      return out;
    };
    // /metrics and the admin feed are read a few ms apart: report the larger (a leak shows in both).
    return {
      connections: sum((r) => Math.max(metricSum(r.metrics, 'herald_connections') ?? -1, r.admin.local.connections)),
      users: sum((r) => Math.max(metricSum(r.metrics, 'herald_users') ?? 0, r.admin.local.users)),
      rooms: sum((r) => Math.max(metricSum(r.metrics, 'herald_rooms') ?? 0, r.admin.local.rooms)),
      handles: sum((r) => metricSum(r.metrics, 'nodejs_active_handles') ?? -1),
      heapUsed: sum((r) => metricSum(r.metrics, 'nodejs_heap_size_used_bytes') ?? -1),
      rss: this.rssBytes(),
      engineUp: rs.every((r) => r.admin.engineUp),
      disconnectsByCode: merge((r) => r.admin.disconnectsByCode),
      limitRejections: merge((r) => r.admin.limitRejections),
      loopLagP99: Math.max(...rs.map((r) => metricSum(r.metrics, 'herald_event_loop_lag_seconds', { stat: 'p99' }) ?? -1)),
      openFds: this.pids().reduce((a, pid) => a + openFds(pid), 0),
    };
  }

  /** One reading per process answering on the port (each worker once). */
  private async readAll(): Promise<Reading[]> {
    const n = this.processes;
    const metrics = new Map<string, string>();
    const admin = new Map<string, AdminStats>();
    // Round-robin over the workers: a few times the worker count reaches each (other clients' connections interleave).
    for (let i = 0; i < n * 12 && (metrics.size < n || admin.size < n); i++) {
      const [m, a] = await Promise.all([
        metrics.size < n ? httpRequest(this.port, 'GET', '/metrics', { timeoutMs: 5000 }) : undefined,
        admin.size < n ? httpRequest(this.port, 'GET', '/admin/api/stats', { apiKey: this.s.apiKey, timeoutMs: 5000 }) : undefined,
      ]);
      if (m) {
        if (m.status !== 200) throw new Error(`${this.id} /metrics answered ${m.status}`);
        metrics.set(/\{[^}]*node="([^"]*)"/.exec(m.body)?.[1] ?? this.id, m.body);
      }
      if (a) {
        if (a.status !== 200) throw new Error(`${this.id} /admin/api/stats answered ${a.status}: ${a.body.slice(0, 200)}`);
        const s = JSON.parse(a.body) as AdminStats;
        admin.set(s.node, s);
      }
    }
    const out: Reading[] = [];
    for (const [node, ad] of admin) {
      const m = metrics.get(node) ?? (n === 1 ? [...metrics.values()][0] : undefined);
      if (m !== undefined) out.push({ node, metrics: m, admin: ad });
    }
    if (out.length < n) throw new Error(`${this.id}: heard from ${out.length} of ${n} workers (${[...admin.keys()].join(', ')})`);
    return out;
  }

  /** Records the idle baseline (after a short bounded settle of the handle count). */
  async recordBaseline(): Promise<NodeHealth> {
    let prev = -1;
    const h = await waitFor(`${this.id} idle handle count stable`, async () => {
      const cur = await this.health();
      const stable = cur.handles === prev && cur.connections === 0;
      prev = cur.handles;
      return stable ? cur : undefined;
    }, 10_000, 200);
    this.baseline = h;
    return h;
  }
}
