/**
 * Real Redis for tests — never a mock.
 *
 * `sharedRedis()` is the long-running server (HERALD_TEST_REDIS_URL, default
 * redis://127.0.0.1:6379): tests use a unique key prefix on it and delete their
 * keys afterwards. Unreachable means failure with a clear message, in CI and
 * locally alike: a Redis test that silently skips would pass without testing.
 *
 * `startRedisServer()` spawns a private redis-server on a free port, for
 * tests that kill, restart or reconfigure Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export const SHARED_REDIS_URL = process.env.HERALD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test run uses. */
export function testPrefix(): string {
  return `herald-test-${randomBytes(5).toString('hex')}:`;
}

/** Polls `check` until it returns a truthy value, or fails after `timeoutMs` naming `what`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function ping(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    let buf = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

/** The shared server; throws (fails the test) when it is not there. */
export async function sharedRedis(): Promise<{ url: string; client: Redis }> {
  const u = new URL(SHARED_REDIS_URL);
  const port = Number(u.port || 6379);
  if (!(await ping(port, u.hostname))) {
    throw new Error(
      `Redis tests need a Redis 7 server at ${SHARED_REDIS_URL} (set HERALD_TEST_REDIS_URL to use another). ` +
        `It is not reachable, so these tests fail rather than skip${process.env.CI === 'true' ? ' (CI=true)' : ''}.`,
    );
  }
  const client = new Redis(SHARED_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  return { url: SHARED_REDIS_URL, client };
}

/** Deletes every key under `prefix` (SCAN, never KEYS: the shared server may be large). */
export async function deleteKeys(client: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  const pattern = prefix.replace(/[*?[\]\\]/g, '\\$&') + '*';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) n += await client.del(...keys);
  } while (cursor !== '0');
  return n;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface RedisServerOptions {
  /** AOF fsync policy; omit for no persistence at all. */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** Start as a Cluster node (cluster-enabled yes). */
  cluster?: boolean;
  port?: number;
  extraArgs?: string[];
}

export class RedisServer {
  private proc: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly args: string[],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const port = opts.port ?? (await freePort());
    const dir = mkdtempSync(join(tmpdir(), 'herald-redis-'));
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'];
    if (opts.appendfsync) args.push('--appendonly', 'yes', '--appendfsync', opts.appendfsync);
    else args.push('--appendonly', 'no');
    if (opts.cluster) args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000');
    args.push(...(opts.extraArgs ?? []));
    const s = new RedisServer(port, dir, args);
    await s.spawn();
    return s;
  }

  isRunning(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts the process again on the same port and data directory (AOF is replayed). */
  async spawn(): Promise<void> {
    if (this.isRunning()) throw new Error('redis-server already running');
    const proc = spawn('redis-server', this.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    let stderr = '';
    proc.stderr?.on('data', (d) => (stderr += d.toString()));
    const failed = new Promise<never>((_, reject) => {
      proc.once('error', (err) => reject(new Error(`cannot run redis-server (is it installed?): ${err.message}`)));
      proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code} at start: ${stderr}`)));
    });
    failed.catch(() => {});
    await Promise.race([waitFor(`redis-server on port ${this.port}`, () => ping(this.port), 15_000), failed]);
  }

  /** SIGKILL: a crash, nothing flushed beyond what the fsync policy already wrote. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || !this.isRunning()) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await exited;
  }

  /** Stops and removes the data directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Redis Sentinel process watching one master (quorum 1: tests run a single sentinel). */
export class RedisSentinel {
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly proc: ChildProcess,
  ) {}

  static async start(masterPort: number, name = 'mymaster'): Promise<RedisSentinel> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'herald-sentinel-'));
    const conf = join(dir, 'sentinel.conf');
    // Sentinel rewrites its config file, so it must be a writable file of its own.
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    const proc = spawn('redis-server', [conf, '--sentinel', '--loglevel', 'warning'], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr?.resume();
    const s = new RedisSentinel(port, dir, proc);
    await waitFor(`sentinel on port ${port}`, () => ping(port), 15_000);
    return s;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
      this.proc.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
