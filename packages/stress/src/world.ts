/**
 * The system under test for one run: a private redis-server (AOF always), a
 * fault proxy in front of it (every node's HERALD_REDIS_URL points there), N
 * Herald processes, and a client-side fault proxy balancing devices over the
 * nodes. Plus a direct admin connection to Redis for subscription checks.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisServer } from '@herald/testkit';
import { track } from './children.js';
import { HeraldProcess, type ClusterSettings } from './cluster.js';
import { FaultProxy } from './faultProxy.js';
import type { Profile } from './profile.js';
import type { Rng } from './rng.js';

/** Server settings the scenarios rely on (short timeouts so faults resolve quickly; load limits raised). */
export const NODE_ENV: Record<string, string> = {
  HERALD_HEARTBEAT_MS: '2000',
  HERALD_ACK_TIMEOUT_MS: '1000',
  HERALD_ACK_MAX_ATTEMPTS: '4',
  HERALD_AUTH_TIMEOUT_MS: '2000',
  HERALD_MAX_PENDING_AUTH: '100',
  HERALD_CONNECT_RATE_PER_IP: '0',
  HERALD_MAX_CONNECTIONS_PER_USER: '0',
  HERALD_OUTBOUND_BUFFER_BYTES: '262144',
  HERALD_JWT_CLOCK_TOLERANCE_SEC: '0',
  HERALD_INBOX_MAX_MESSAGES: '100000',
  HERALD_API_PUBLISH_RATE_PER_TENANT: '0',
  HERALD_SHUTDOWN_TIMEOUT_MS: '3000',
  HERALD_DRAIN_WINDOW_MS: '500',
};

export class World {
  readonly nodes: HeraldProcess[] = [];
  redis!: RedisServer;
  redisProxy!: FaultProxy;
  lb!: FaultProxy;
  admin!: Redis;
  readonly settings: ClusterSettings;

  constructor(
    readonly profile: Profile,
    private readonly rng: Rng,
  ) {
    const tag = randomBytes(4).toString('hex');
    this.settings = {
      jwtSecret: `stress-secret-${randomBytes(16).toString('hex')}`,
      apiKey: `stress-key-${randomBytes(12).toString('hex')}`,
      redisUrl: '',
      prefix: `herald-stress-${tag}:`,
      env: { ...NODE_ENV, ...profile.env },
    };
  }

  get prefix(): string {
    return this.settings.prefix;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.lb.port}/ws`;
  }

  liveNodes(): HeraldProcess[] {
    return this.nodes.filter((n) => n.isRunning());
  }

  async start(): Promise<void> {
    this.redis = await RedisServer.start({ appendfsync: 'always', dirPrefix: 'herald-stress-redis-', onSpawn: track });
    this.redisProxy = new FaultProxy('redis', [{ host: '127.0.0.1', port: this.redis.port }], this.rng.fork('redis-proxy'));
    await this.redisProxy.listen();
    this.settings.redisUrl = `redis://127.0.0.1:${this.redisProxy.port}`;
    this.admin = new Redis(this.redis.url, { maxRetriesPerRequest: 2, retryStrategy: (n) => Math.min(n * 100, 1000) });
    this.admin.on('error', () => {});
    for (let i = 0; i < this.profile.nodes; i++) {
      const workers = i === this.profile.nodes - 1 ? this.profile.workers : 0;
      this.nodes.push(await HeraldProcess.create(`stress-${String.fromCharCode(97 + i)}`, this.settings, workers));
    }
    await Promise.all(this.nodes.map((n) => n.start()));
    this.lb = new FaultProxy('clients', this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), this.rng.fork('client-proxy'));
    await this.lb.listen();
    for (const n of this.nodes) await n.recordBaseline();
  }

  /**
   * Restarts every node (graceful stop, start, new idle baseline) with NODE_ENV
   * plus `extra` — for scenarios that need a webhook URL, hooks, an ingest
   * source… The runner puts the defaults back before the next scenario.
   */
  async reconfigure(extra: Record<string, string>): Promise<void> {
    const next = { ...NODE_ENV, ...this.profile.env, ...extra };
    if (sameEnv(this.settings.env, next)) return;
    this.settings.env = next;
    await Promise.all(this.nodes.map((n) => n.stop(5000)));
    await Promise.all(this.nodes.map((n) => n.start()));
    for (const n of this.nodes) await n.recordBaseline();
  }

  /** Back to the suite's (and the profile's) default node settings (a no-op when nothing changed them). */
  async resetConfiguration(): Promise<void> {
    await this.reconfigure({});
  }

  /** Channel → subscriber count for every channel under the run's prefix. */
  async subscriptions(): Promise<Record<string, number>> {
    const chans = (await this.admin.pubsub('CHANNELS', `${this.prefix}*`)) as string[];
    if (chans.length === 0) return {};
    const flat = (await this.admin.pubsub('NUMSUB', ...chans)) as (string | number)[];
    const out: Record<string, number> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = Number(flat[i + 1]);
    return out;
  }

  /** Stops everything; never throws (runs on failure paths). */
  async stop(): Promise<void> {
    const quiet = async (f: () => Promise<unknown>): Promise<void> => {
      try {
        await f();
      } catch {
        // best effort
      }
    };
    await quiet(() => this.lb?.close());
    await Promise.all(this.nodes.map((n) => quiet(() => n.stop(5000))));
    await quiet(() => this.redisProxy?.close());
    this.admin?.disconnect();
    await quiet(() => this.redis?.stop());
  }
}

function sameEnv(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
