/**
 * A private redis-server (AOF, appendfsync always) on a free loopback port, for
 * scenarios that kill or restart Redis. Restarts reuse port and data directory,
 * so the AOF is replayed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { track } from './children.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export class OwnRedis {
  private proc: ChildProcess | undefined;
  private stderr = '';
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(): Promise<OwnRedis> {
    const r = new OwnRedis(await freePort(), mkdtempSync(join(tmpdir(), 'herald-stress-redis-')));
    await r.spawn();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  isRunning(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async spawn(): Promise<void> {
    if (this.isRunning()) throw new Error('redis-server already running');
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dir, '--daemonize', 'no', '--loglevel', 'warning'];
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    track(proc);
    proc.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    let failure: Error | undefined;
    proc.once('error', (err) => (failure = new Error(`cannot run redis-server (is it installed?): ${err.message}`)));
    await waitFor(`redis-server on port ${this.port}`, async () => {
      if (failure) throw failure;
      if (proc.exitCode !== null) throw new Error(`redis-server exited ${proc.exitCode}: ${this.stderr}`);
      return this.ping();
    }, 15_000);
  }

  private async ping(): Promise<boolean> {
    const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
    c.on('error', () => {});
    try {
      await c.connect();
      return (await c.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      c.disconnect();
    }
  }

  /** SIGKILL: a crash; only what appendfsync already wrote survives. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || !this.isRunning()) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
