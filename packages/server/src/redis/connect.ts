/**
 * Builds ioredis clients from one Herald Redis URL (url.ts): standalone,
 * Sentinel or Cluster.
 *
 * Every client is built to fail fast instead of hanging while Redis is away:
 * no offline queue (a command issued while disconnected rejects at once, so
 * the API answers 5xx and the ingest entry stays pending), and no automatic
 * re-send of commands whose reply was lost (a re-sent append script would
 * store a message twice under two seqs).
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import { parseRedisUrl, type ParsedRedisUrl } from './url.js';
import { withTimeout } from '../runtime/timeouts.js';

export { isRedisUrl, parseRedisUrl, type ParsedRedisUrl } from './url.js';

export type RedisClient = Redis | Cluster;

export interface ClientOptions {
  /** Shown in logs and as CLIENT SETNAME, e.g. `herald:node-1:cmd`. */
  name: string;
  logger: Logger;
  /** Blocking commands (XREADGROUP BLOCK) must not hit a command timeout. */
  commandTimeoutMs?: number;
  /** Cluster subscriber clients: one sharded-subscriber connection per master. */
  shardedSubscribers?: boolean;
}

/** Full-jitter exponential backoff, 50 ms doubling up to 2 s: reconnects never stop, storms are spread. */
function backoff(times: number): number {
  const cap = Math.min(2000, 50 * 2 ** Math.min(times, 10));
  return Math.floor(Math.random() * cap) + 1;
}

function baseOptions(o: ClientOptions): RedisOptions {
  const opts: RedisOptions = {
    connectionName: o.name,
    // RESP2: reply shapes of stream commands are the documented ones (ioredis 6 defaults to RESP3,
    // where XREADGROUP's reply is a map), and Redis servers before 6 work too.
    protocol: 2,
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    // Commands issued in the same tick go out in one write (a publish is several commands).
    enableAutoPipelining: true,
    // Subscriptions are restored by ChannelSubscriptions, which must know when they are back (isReady).
    autoResubscribe: false,
    maxRetriesPerRequest: 0,
    retryStrategy: backoff,
    // A master that fails over in Sentinel/Cluster answers READONLY until clients move: reconnect.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
  if (o.commandTimeoutMs !== undefined) opts.commandTimeout = o.commandTimeoutMs;
  return opts;
}

export function createClient(url: string | ParsedRedisUrl, o: ClientOptions): RedisClient {
  const p = typeof url === 'string' ? parseRedisUrl(url) : url;
  const base = baseOptions(o);
  let client: RedisClient;
  if (p.mode === 'standalone') {
    client = new Redis(p.url, base);
  } else if (p.mode === 'sentinel') {
    const opts: RedisOptions = { ...base, sentinels: p.sentinels, name: p.name, db: p.db, sentinelRetryStrategy: backoff };
    if (p.username) opts.username = p.username;
    if (p.password) opts.password = p.password;
    if (p.sentinelUsername) opts.sentinelUsername = p.sentinelUsername;
    if (p.sentinelPassword) opts.sentinelPassword = p.sentinelPassword;
    if (p.tls) {
      opts.tls = {};
      opts.enableTLSForSentinelMode = true;
    }
    client = new Redis(opts);
  } else {
    // autoResubscribe stays on here: ioredis' sharded subscribers rely on it after a shard reconnects.
    // No offline queue per node either: a command for a master that just died fails at once instead
    // of waiting out the command timeout while the cluster fails over.
    // (Except on the sharded subscribers: SSUBSCRIBE is idempotent, and one sent while a new shard
    // subscriber is still connecting must wait for it rather than fail.)
    const redisOptions: RedisOptions = { connectionName: o.name, protocol: 2, autoResendUnfulfilledCommands: false, enableOfflineQueue: !!o.shardedSubscribers };
    // (Auto-pipelining is a Cluster option, set below.)
    if (o.commandTimeoutMs !== undefined) redisOptions.commandTimeout = o.commandTimeoutMs;
    if (p.username) redisOptions.username = p.username;
    if (p.password) redisOptions.password = p.password;
    if (p.tls) redisOptions.tls = {};
    const opts: ClusterOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      enableReadyCheck: true,
      maxRedirections: 16,
      clusterRetryStrategy: backoff,
      // A node whose connection ends is dropped and the slot map refreshed (ioredis' default), which is
      // how a failover is learned quickly; the periodic refresh brings back nodes that return.
      slotsRefreshInterval: 2_000,
      enableAutoPipelining: true,
      redisOptions,
    };
    if (o.shardedSubscribers) opts.shardedSubscribers = true;
    client = new Cluster(p.nodes, opts);
  }
  watchState(client, o, p.display);
  return client;
}

/** Logs transitions only (not every failed reconnect attempt), so an outage is a few lines, not a flood. */
function watchState(client: RedisClient, o: ClientOptions, display: string): void {
  let wasReady = false;
  let lastError = '';
  client.on('ready', () => {
    o.logger.info({ redis: display, client: o.name }, wasReady ? 'redis reconnected' : 'redis connected');
    wasReady = true;
    lastError = '';
  });
  client.on('error', (err: Error) => {
    if (err.message === lastError) return;
    lastError = err.message;
    o.logger.warn({ redis: display, client: o.name, err: err.message }, 'redis connection error');
  });
  client.on('close', () => {
    if (wasReady && client.status !== 'end') o.logger.warn({ redis: display, client: o.name }, 'redis connection lost; reconnecting');
  });
}

/**
 * Connects a lazy client and waits until it is ready, or rejects after
 * `timeoutMs` (the client is then disconnected so it stops retrying).
 */
export async function connectClient(client: RedisClient, timeoutMs: number, what: string): Promise<void> {
  if (client.status === 'ready') return;
  let timer: NodeJS.Timeout | undefined;
  let onReady: (() => void) | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      onReady = resolve;
      client.once('ready', onReady);
      timer = setTimeout(() => reject(new Error(`${what}: redis not ready within ${timeoutMs} ms`)), timeoutMs);
      if (client.status === 'wait') {
        // The first attempt may fail; retryStrategy keeps trying until the deadline above.
        client.connect().catch(() => {});
      }
    });
  } catch (err) {
    client.disconnect();
    throw err;
  } finally {
    if (timer) clearTimeout(timer);
    if (onReady) client.off('ready', onReady);
  }
}

/** How long a polite close may take before the connection is dropped, ms. */
export const QUIT_TIMEOUT_MS = 2000;

/**
 * Closes politely (QUIT flushes pending replies); falls back to a hard disconnect when Redis is
 * away, or when QUIT gets no answer within QUIT_TIMEOUT_MS (a stalled server, or a Cluster node
 * whose connection is mid-reconnect): a node's shutdown must not wait on Redis for ever.
 */
export async function closeClient(client: RedisClient, timeoutMs = QUIT_TIMEOUT_MS): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await withTimeout(client.quit(), timeoutMs, 'QUIT');
  } catch {
    client.disconnect();
  }
}
