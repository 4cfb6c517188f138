/**
 * Real Herald processes (`node packages/server/bin/herald.js serve`) on the
 * Redis engine: start, wait ready, kill -9, restart on the same port, stop, and
 * read their health (/metrics, /admin/api/stats, RSS from /proc).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { track } from './children.js';
import { httpRequest, metricSum } from './http.js';
import { freePort, isRunning, killAndWait } from '@herald/testkit';
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
  ) {}

  static async create(id: string, s: ClusterSettings): Promise<HeraldProcess> {
    if (!existsSync(SERVER_DIST)) throw new Error(`the server is not built (${SERVER_DIST} missing): run \`npm run build\` first`);
    return new HeraldProcess(id, await freePort(), s);
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
      HERALD_LOG_LEVEL: 'warn',
      ...this.s.env,
    };
    const proc = spawn(process.execPath, [HERALD_BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.starts++;
    track(proc);
    const keep = (d: Buffer): void => {
      this.output = (this.output + d.toString()).slice(-20_000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    await waitFor(`${this.id} ready on port ${this.port}`, async () => {
      if (proc.exitCode !== null) throw new Error(`${this.id} exited with ${proc.exitCode}: ${this.tail()}`);
      const r = await httpRequest(this.port, 'GET', '/readyz', { timeoutMs: 2000 });
      return r.status === 200;
    }, 30_000, 100);
  }

  /** kill -9: no drain, no cleanup, sockets reset by the kernel. */
  async kill9(): Promise<void> {
    await killAndWait(this.proc, 'SIGKILL');
  }

  /** SIGTERM (graceful drain), SIGKILL if it outlasts `ms`. */
  async stop(ms = 15_000): Promise<void> {
    await killAndWait(this.proc, 'SIGTERM', ms);
  }

  /** Resident set size from /proc/<pid>/status, bytes. */
  rssBytes(): number {
    const pid = this.proc?.pid;
    if (pid === undefined) return 0;
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  }

  async health(): Promise<NodeHealth> {
    const [m, a] = await Promise.all([
      httpRequest(this.port, 'GET', '/metrics', { timeoutMs: 5000 }),
      httpRequest(this.port, 'GET', '/admin/api/stats', { apiKey: this.s.apiKey, timeoutMs: 5000 }),
    ]);
    if (m.status !== 200) throw new Error(`${this.id} /metrics answered ${m.status}`);
    if (a.status !== 200) throw new Error(`${this.id} /admin/api/stats answered ${a.status}: ${a.body.slice(0, 200)}`);
    const admin = JSON.parse(a.body) as {
      local: { connections: number; users: number; rooms: number };
      engineUp: boolean;
      disconnectsByCode: Record<string, number>;
      limitRejections: Record<string, number>;
    };
    // /metrics and the admin feed are read a few ms apart: report the larger (a leak shows in both).
    const conns = metricSum(m.body, 'herald_connections') ?? -1;
    return {
      connections: Math.max(conns, admin.local.connections),
      users: Math.max(metricSum(m.body, 'herald_users') ?? 0, admin.local.users),
      rooms: Math.max(metricSum(m.body, 'herald_rooms') ?? 0, admin.local.rooms),
      handles: metricSum(m.body, 'nodejs_active_handles') ?? -1,
      heapUsed: metricSum(m.body, 'nodejs_heap_size_used_bytes') ?? -1,
      rss: this.rssBytes(),
      engineUp: admin.engineUp,
      disconnectsByCode: admin.disconnectsByCode,
      limitRejections: admin.limitRejections,
    };
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
