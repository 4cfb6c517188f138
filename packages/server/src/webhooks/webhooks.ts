/**
 * Webhooks wiring (docs/events.md): when `webhookUrl` is set, listens on the
 * lifecycle seam, writes events to the engine's outbox (memory: in-process;
 * Redis: streams shared by the cluster), sends them with the Sender, and
 * watches unacked deadlines. Everything is off the hot paths: a listener
 * call serializes one small object and hands it to the outbox (Redis: one
 * XADD issued at once, never awaited by the caller). With the Redis engine on
 * a single Redis, online/offline are written by the presence scripts
 * themselves (presenceEvents.ts, issue 23) and not appended here again.
 */
import type client from 'prom-client';
import type { HeraldConfig } from '../config/schema.js';
import type { Engine, InboxMessage } from '../engine/types.js';
import type { LifecycleEvents } from '../events/lifecycle.js';
import type { Logger } from '../observability/logger.js';
import { registerWebhookMetrics } from '../observability/webhookMetrics.js';
import { MemoryDeadlines, type DeadlineStore } from './deadlines.js';
import { EventIds, partitionOf, serialize, type EventType, type WebhookEvent } from './event.js';
import { webhookListener } from './listener.js';
import { MemoryOutbox } from './memoryOutbox.js';
import { presenceEventSink } from './presenceEvents.js';
import type { Outbox } from './outbox.js';
import { Sender } from './sender.js';
import { WebhookStats } from './stats.js';
import { UnackedWatch } from './unacked.js';

export interface WebhooksDeps {
  config: HeraldConfig;
  nodeId: string;
  engine: Engine;
  events: LifecycleEvents;
  registry: client.Registry;
  log: Logger;
}

/** How often the outbox depth is read for metrics and the admin page, ms. */
const DEPTH_REFRESH_MS = 2000;

export class Webhooks {
  private removeListener: (() => void) | undefined;
  private depthTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly d: WebhooksDeps,
    readonly outbox: Outbox,
    private readonly sender: Sender,
    private readonly deadlines: DeadlineStore | undefined,
    private readonly unacked: UnackedWatch | undefined,
    readonly stats: WebhookStats,
  ) {}

  /** Starts webhooks when `webhookUrl` is set (config validation guarantees the secret). */
  static async start(d: WebhooksDeps): Promise<Webhooks | undefined> {
    const c = d.config;
    if (c.webhookUrl === undefined || c.webhookSecret === undefined) return undefined;
    const log = d.log.child({ component: 'webhooks' });
    const partitions = c.webhookConcurrency;
    let outbox: Outbox;
    let deadlines: DeadlineStore | undefined;
    const types = new Set<EventType>(c.webhookEvents);
    const wantsUnacked = types.size === 0 || types.has('unacked');
    const ids = new EventIds(d.nodeId);
    /** online/offline written by the engine's presence scripts, with the change (issue 23). */
    let presenceInEngine = (): boolean => false;
    if (c.engine === 'redis') {
      // Loaded only with the Redis engine, like the engine itself.
      const { RedisOutbox } = await import('./redisOutbox.js');
      const redisOutbox = new RedisOutbox({
        url: c.redisUrl,
        keyPrefix: c.redisKeyPrefix,
        nodeId: d.nodeId,
        partitions,
        leaseMs: Math.max(1000, c.nodeTtlMs),
        maxLen: c.webhookRedisMaxEvents,
        maxBuffered: c.webhookMemoryMaxEvents,
        // On the engine's command connection: in order with the presence scripts' events.
        ...(d.engine.appendEvent ? { write: d.engine.appendEvent.bind(d.engine) } : {}),
        logger: log,
      });
      outbox = redisOutbox;
      const sink = presenceEventSink({ node: d.nodeId, ids, types, partitions, stream: (p) => redisOutbox.stream(p), maxLen: c.webhookRedisMaxEvents });
      presenceInEngine = () => d.engine.writePresenceEvents?.(sink) === true;
      if (wantsUnacked) {
        const { RedisDeadlines } = await import('./redisDeadlines.js');
        deadlines = new RedisDeadlines(c.redisUrl, c.redisKeyPrefix, d.nodeId, log);
      }
    } else {
      outbox = new MemoryOutbox(partitions, c.webhookMemoryMaxEvents);
      if (wantsUnacked) deadlines = new MemoryDeadlines();
    }
    const stats = new WebhookStats();
    const sender = new Sender(
      outbox,
      { url: c.webhookUrl, secret: c.webhookSecret, batchSize: c.webhookBatchSize, batchMs: c.webhookBatchMs, timeoutMs: c.webhookTimeoutMs, retentionMs: c.webhookRetentionSec * 1000, maxBackoffMs: c.webhookMaxBackoffMs },
      stats,
      log,
    );
    let engineWrites = false;
    const emit = (e: WebhookEvent): void => {
      stats.bump('emitted', e.type);
      // Already in the outbox: written by the presence change itself.
      if (engineWrites && (e.type === 'online' || e.type === 'offline')) return;
      outbox.append(partitionOf(e.tenant, e.user, partitions), [{ type: e.type, ts: e.ts, json: serialize(e) }]);
    };
    const unacked = deadlines ? new UnackedWatch(deadlines, d.engine, d.nodeId, emit, log) : undefined;
    const w = new Webhooks(d, outbox, sender, deadlines, unacked, stats);
    outbox.onDrop = (type) => stats.bump('dropped_overflow', type);
    registerWebhookMetrics(d.registry, stats);
    await outbox.start();
    engineWrites = presenceInEngine();
    await deadlines?.start();
    w.removeListener = d.events.add(webhookListener({ node: d.nodeId, ids, types, emit }));
    sender.start();
    unacked?.start();
    w.depthTimer = setInterval(() => void w.refreshDepth(), DEPTH_REFRESH_MS);
    w.depthTimer.unref();
    log.info({ partitions, types: types.size === 0 ? 'all' : [...types], engine: c.engine, presenceEventsWithChange: engineWrites }, 'webhooks on');
    return w;
  }

  /** The publish pipeline's hook for `notify_unacked_after`; undefined when unacked events are filtered out. */
  get watchUnacked(): ((tenant: string, user: string, m: InboxMessage, afterSec: number) => Promise<void>) | undefined {
    const u = this.unacked;
    const log = this.d.log;
    return u
      ? (tenant, user, m, afterSec) =>
          u.watch(tenant, user, m, afterSec).catch((err: unknown) => log.warn({ err: (err as Error).message, tenant, user, seq: m.seq }, 'unacked deadline not registered'))
      : undefined;
  }

  /** Runs the sender and the deadline check now (tests; otherwise they run on their timers). */
  poke(): void {
    this.sender.tick();
    void this.unacked?.check();
  }

  async refreshDepth(): Promise<void> {
    try {
      this.stats.depth = await this.outbox.depth();
    } catch {
      // Redis away: keep the last value (herald_engine_up and the logs say why).
    }
  }

  /** For the admin page. */
  status(): Record<string, unknown> {
    const s = this.stats;
    return {
      outboxDepth: s.depth.depth,
      outboxOldestAgeSec: Math.round(s.depth.oldestAgeMs / 1000),
      emitted: s.total('emitted'),
      delivered: s.total('delivered'),
      retried: s.total('retried') + s.total('rejected'),
      dropped: s.total('dropped_retention') + s.total('dropped_overflow'),
      lastError: s.lastError ? { at: s.lastError.at, message: s.lastError.message } : null,
      lastSuccessAt: s.lastSuccessAt ?? null,
    };
  }

  /**
   * Stops listening and sending. With the memory engine the outbox dies with the process, so
   * the sender gets up to `drainMs` to empty it first; the Redis outbox stays for the other nodes.
   */
  async stop(drainMs: number): Promise<void> {
    // The last clients' presence updates (offline) resolve a Redis round trip after their close:
    // let them reach the listener before it goes.
    await new Promise((r) => setTimeout(r, Math.min(200, drainMs / 4)));
    this.removeListener?.();
    this.unacked?.stop();
    if (this.depthTimer) clearInterval(this.depthTimer);
    if (this.d.config.engine === 'memory') {
      const until = Date.now() + drainMs;
      while (Date.now() < until && (await this.outbox.depth()).depth > 0) {
        this.sender.tick();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await Promise.race([this.sender.stop(), new Promise((r) => setTimeout(r, Math.max(100, drainMs)).unref())]);
    await this.outbox.stop();
    await this.deadlines?.stop();
  }
}
