/**
 * Private redis-server processes for tests, bench and stress that kill,
 * restart or reconfigure Redis (the shared server on 6379 is never touched).
 * Each runs on a free loopback port with its own data directory; a restart
 * reuses both, so an AOF is replayed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { isRunning, killAndWait } from './processes.js';
import { waitFor } from './wait.js';

/** Sends an inline PING on a plain TCP socket; true on +PONG (not while Redis is still loading its AOF). */
export async function redisPing(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    let buf = '';
    const done = (ok: boolean): void => {
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

export interface RedisServerOptions {
  /** AOF fsync policy; omit for no persistence at all. */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** Start as a Cluster node (cluster-enabled yes). */
  cluster?: boolean;
  port?: number;
  extraArgs?: string[];
  /** Prefix of the temporary data directory's name (default herald-redis-). */
  dirPrefix?: string;
  /** Called with every process started (first start and restarts), e.g. to register it for cleanup on exit. */
  onSpawn?: (proc: ChildProcess) => void;
}

const START_TIMEOUT_MS = 15_000;

/** Rejects when `proc` cannot be run or exits; never settles otherwise. */
function failureOf(proc: ChildProcess, what: string, stderr: () => string): Promise<never> {
  const failed = new Promise<never>((_, reject) => {
    proc.once('error', (err) => reject(new Error(`cannot run redis-server (is it installed?): ${err.message}`)));
    proc.once('exit', (code) => reject(new Error(`${what} exited with ${code} at start: ${stderr()}`)));
  });
  failed.catch(() => {});
  return failed;
}

export class RedisServer {
  private proc: ChildProcess | undefined;
  private stderr = '';
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly args: string[],
    private readonly onSpawn: ((proc: ChildProcess) => void) | undefined,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const port = opts.port ?? (await freePort());
    const dir = mkdtempSync(join(tmpdir(), opts.dirPrefix ?? 'herald-redis-'));
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'];
    if (opts.appendfsync) args.push('--appendonly', 'yes', '--appendfsync', opts.appendfsync);
    else args.push('--appendonly', 'no');
    if (opts.cluster) args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000');
    args.push(...(opts.extraArgs ?? []));
    const s = new RedisServer(port, dir, args, opts.onSpawn);
    try {
      await s.spawn();
    } catch (err) {
      await s.stop();
      throw err;
    }
    return s;
  }

  isRunning(): boolean {
    return isRunning(this.proc);
  }

  /** Starts the process again on the same port and data directory (AOF is replayed). */
  async spawn(): Promise<void> {
    if (this.isRunning()) throw new Error('redis-server already running');
    const proc = spawn('redis-server', this.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    this.stderr = '';
    this.onSpawn?.(proc);
    proc.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    const failed = failureOf(proc, 'redis-server', () => this.stderr);
    await Promise.race([waitFor(`redis-server on port ${this.port}`, () => redisPing(this.port), START_TIMEOUT_MS), failed]);
  }

  /** SIGKILL: a crash, nothing flushed beyond what the fsync policy already wrote. */
  async kill(): Promise<void> {
    await killAndWait(this.proc);
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
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const s = new RedisSentinel(port, dir, proc);
    try {
      await Promise.race([waitFor(`sentinel on port ${port}`, () => redisPing(port), START_TIMEOUT_MS), failureOf(proc, 'redis sentinel', () => stderr)]);
    } catch (err) {
      await s.stop();
      throw err;
    }
    return s;
  }

  async stop(): Promise<void> {
    await killAndWait(this.proc);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
