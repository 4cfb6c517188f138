/**
 * NATS JetStream ingest (DESIGN.md §7, docs/ingest.md): producers publish
 * publish bodies (JSON) to `ingestNatsSubject`; the stream `ingestNatsStream`
 * keeps them (created if absent, work-queue retention: an acked entry is
 * gone) and every node pulls from one durable consumer, so each entry goes to
 * one node at a time.
 *
 * Per entry:
 * - the idempotency key is the body's own, else `nats:<stream>:<stream seq>`:
 *   JetStream redelivers an entry whose ack was lost (node crash between
 *   store and ack, connection cut) and the replay stores nothing new;
 * - acked (and the ack confirmed) only after the publish pipeline resolved;
 * - never-good entries (not UTF-8/JSON, too large or deep, refused by the
 *   pipeline with a 4xx) are published to `<subject>.dead` with the reason in
 *   the `Herald-Dead-Reason` header, then terminated;
 * - a transient failure (engine down, 409, 429) is nak'ed with a delay that
 *   doubles per delivery; on the last allowed delivery it is dead-lettered;
 * - an entry whose last allowed delivery was never acked (its node died) is
 *   dead-lettered from JetStream's max-deliveries advisory by one node.
 *
 * What is declared at start is in natsTopology.ts; the dead letters and the
 * advisory watch in natsDead.ts.
 *
 * The nats client reconnects by itself (forever, with a wait between tries)
 * and the pull consumer re-issues its pulls after a reconnect. stop() stops
 * pulling, lets entries being published finish and be acked, naks the ones
 * pulled but not started (another node takes them at once) and drains.
 */
import { connect, ConsumerEvents, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg, type NatsConnection } from 'nats';
import type { HeraldConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { wakeablePause, withTimeout } from '../runtime/timeouts.js';
import { backoffMs, decodeIngestBody, rejectionReason } from './body.js';
import { NatsDeadLetters } from './natsDead.js';
import { ensureNatsTopology } from './natsTopology.js';
import { classifyIngestFailure, withIdempotencyKey, type IngestPublish, type IngestSource, type IngestSourceStats } from './source.js';

/** Header of a dead letter carrying why it was refused. */
export { DEAD_REASON_HEADER } from './natsDead.js';

export interface NatsSourceOptions {
  /** One or more server URLs, comma-separated. */
  url: string;
  stream: string;
  subject: string;
  durable: string;
  maxDeliver: number;
  ackWaitMs: number;
  batch: number;
  concurrency: number;
  retryDelayMs: number;
  timeoutMs: number;
  /** Cap of the dead-letter stream when Herald creates it (oldest discarded). */
  deadMaxMessages?: number;
  /** Bounds of one entry, as for an HTTP body (httpMaxBodyBytes, maxJsonDepth). */
  maxBodyBytes: number;
  maxJsonDepth: number;
  publish: IngestPublish;
  logger: Logger;
  nodeId: string;
  /** Wait between reconnect attempts, ms (default 1000). */
  reconnectWaitMs?: number;
  /** How often the consumer's pending count is asked for (lag), ms (default 5000). */
  lagRefreshMs?: number;
}

const LAG_REFRESH_MS = 5_000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The source for `config`, or undefined when HERALD_INGEST_NATS_URL is unset. */
export function fromConfig(config: HeraldConfig, publish: IngestPublish, logger: Logger, nodeId: string): IngestSource | undefined {
  if (!config.ingestNatsUrl) return undefined;
  return new NatsSource({
    url: config.ingestNatsUrl,
    stream: config.ingestNatsStream,
    subject: config.ingestNatsSubject,
    durable: config.ingestNatsDurable,
    maxDeliver: config.ingestNatsMaxDeliver,
    ackWaitMs: config.ingestNatsAckWaitMs,
    batch: config.ingestNatsBatch,
    concurrency: config.ingestNatsConcurrency,
    retryDelayMs: config.ingestNatsRetryDelayMs,
    timeoutMs: config.ingestNatsTimeoutMs,
    deadMaxMessages: config.ingestNatsDeadMaxMessages,
    maxBodyBytes: config.httpMaxBodyBytes,
    maxJsonDepth: config.maxJsonDepth,
    publish,
    logger,
    nodeId,
  });
}

export class NatsSource implements IngestSource {
  readonly kind = 'nats';
  readonly name: string;
  readonly deadSubject: string;
  /** Stream the dead letters land in (found or created at start). */
  deadStream = '';
  private readonly o: NatsSourceOptions;
  private readonly log: Logger;
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private stopping = false;
  private destroyed = false;
  private lagTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private dead: NatsDeadLetters | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly s: IngestSourceStats = { connected: false, consumed: 0, deadLettered: 0, redelivered: 0 };

  constructor(opts: NatsSourceOptions) {
    this.o = opts;
    this.name = `${opts.stream}/${opts.subject}`;
    this.deadSubject = `${opts.subject}.dead`;
    this.log = opts.logger.child({ component: 'ingest', source: 'nats', stream: opts.stream, subject: opts.subject });
  }

  stats(): IngestSourceStats {
    return { ...this.s };
  }

  async start(): Promise<void> {
    if (this.nc) throw new Error('nats ingest started twice');
    const nc = await connect({
      servers: this.o.url.split(',').map((s) => s.trim()),
      name: `herald:${this.o.nodeId}:ingest`,
      timeout: this.o.timeoutMs,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: this.o.reconnectWaitMs ?? 1_000,
      // A stalled connection (no pong) is given up on after two missed pings, then reconnected.
      pingInterval: Math.max(500, Math.floor(this.o.timeoutMs / 2)),
      maxPingOut: 2,
    });
    this.nc = nc;
    this.s.connected = true;
    void this.watchConnection(nc);
    try {
      this.jsm = await nc.jetstreamManager({ timeout: this.o.timeoutMs });
      this.js = nc.jetstream({ timeout: this.o.timeoutMs });
      await this.ensureTopology();
    } catch (err) {
      this.s.lastError = (err as Error).message;
      await nc.close().catch(() => {});
      this.nc = undefined;
      throw err;
    }
    this.dead = new NatsDeadLetters({
      js: this.js,
      jsm: this.jsm,
      stream: this.o.stream,
      durable: this.o.durable,
      deadSubject: this.deadSubject,
      maxDeliver: this.o.maxDeliver,
      timeoutMs: this.o.timeoutMs,
      nodeId: this.o.nodeId,
      onAdvisoryDead: (seq, reason) => {
        this.s.deadLettered++;
        this.log.warn({ seq, reason }, 'nats ingest entry dead-lettered');
      },
      onError: (message) => void (this.s.lastError = message),
    });
    this.dead.watchMaxDeliveries(nc, () => this.stopping);
    this.loop = this.run();
    this.lagTimer = setInterval(() => void this.refreshLag(), this.o.lagRefreshMs ?? LAG_REFRESH_MS);
    this.lagTimer.unref();
    this.log.info({ durable: this.o.durable, deadStream: this.deadStream }, 'nats ingest started');
  }

  async stop(): Promise<void> {
    if (!this.nc || this.destroyed) return;
    if (this.stopped) return this.stopped;
    this.stopping = true;
    this.stopped = (async () => {
      clearInterval(this.lagTimer);
      this.dead?.unwatch();
      this.messages?.stop();
      this.wake?.();
      await this.loop;
      // Drain flushes the acks and naks written above before closing.
      await withTimeout(this.nc!.drain(), this.o.timeoutMs, 'nats drain').catch(() => this.nc!.close());
      this.s.connected = false;
    })();
    return this.stopped;
  }

  /** Closes the connection at once, finishing nothing: what a crash looks like to JetStream (tests). */
  destroy(): void {
    this.destroyed = true;
    this.stopping = true;
    clearInterval(this.lagTimer);
    this.wake?.();
    // Else the pull loop keeps trying to re-pull on the closed connection, on timers, for ever.
    this.messages?.stop();
    void this.nc?.close();
    this.s.connected = false;
  }

  /** Stream, dead-letter stream and durable consumer, created if absent (natsTopology.ts). */
  private async ensureTopology(): Promise<void> {
    const o = this.o;
    const t = { stream: o.stream, subject: o.subject, durable: o.durable, deadSubject: this.deadSubject, maxDeliver: o.maxDeliver, ackWaitMs: o.ackWaitMs, batch: o.batch };
    this.deadStream = await ensureNatsTopology(this.jsm!, o.deadMaxMessages === undefined ? t : { ...t, deadMaxMessages: o.deadMaxMessages }, this.log);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        const consumer = await this.js!.consumers.get(this.o.stream, this.o.durable);
        const messages = await consumer.consume({ max_messages: this.o.batch, expires: Math.max(1_000, Math.min(30_000, this.o.timeoutMs)) });
        this.messages = messages;
        if (this.stopping) messages.stop();
        void this.watchConsumer(messages);
        failures = 0;
        for await (const m of messages) {
          while (this.inFlight.size >= this.o.concurrency) await Promise.race(this.inFlight);
          if (this.stopping) {
            // Pulled but not started: back to the stream now rather than after ack_wait.
            safely(() => m.nak());
            continue;
          }
          const p: Promise<void> = this.handle(m)
            .catch((err: Error) => void (this.s.lastError = err.message)) // a nak/term on a closed connection: redelivered
            .finally(() => this.inFlight.delete(p));
          this.inFlight.add(p);
        }
        // The pull ended without stop() (the server ended it): pull again, after a pause, never in a hot loop.
        if (!this.stopping) throw new Error('nats pull consumer ended');
      } catch (err) {
        if (this.stopping) break;
        failures++;
        this.s.lastError = (err as Error).message;
        if (failures === 1) this.log.warn({ err: this.s.lastError }, 'nats ingest consume failed; retrying');
        await this.pause(backoffMs(100, failures, 5_000));
      }
    }
    await Promise.all(this.inFlight);
  }

  private async handle(m: JsMsg): Promise<void> {
    const seq = m.info.streamSequence;
    const deliveries = m.info.deliveryCount;
    if (deliveries > 1) this.s.redelivered++;
    this.s.lag = m.info.pending;
    let text: string;
    try {
      text = utf8.decode(m.data);
    } catch {
      return this.toDead(m, 'payload is not UTF-8');
    }
    const decoded = decodeIngestBody(text, m.data.length, { maxBytes: this.o.maxBodyBytes, maxDepth: this.o.maxJsonDepth });
    if (!decoded.ok) return this.toDead(m, decoded.reason);
    try {
      await this.o.publish(withIdempotencyKey(decoded.body, `nats:${this.o.stream}:${seq}`));
    } catch (err) {
      if (classifyIngestFailure(err) === 'dead') return this.toDead(m, rejectionReason(err));
      const msg = (err as Error).message ?? String(err);
      // JetStream would not deliver it again: the last failure is final.
      if (deliveries >= this.o.maxDeliver) return this.toDead(m, `delivered ${deliveries} times (max ${this.o.maxDeliver}) without success; last error: ${msg}`);
      this.s.lastError = msg;
      this.log.warn({ seq, deliveries, err: msg }, 'nats ingest entry failed; will retry');
      m.nak(backoffMs(this.o.retryDelayMs, deliveries));
      return;
    }
    try {
      if (await m.ackAck({ timeout: this.o.timeoutMs })) this.s.consumed++;
    } catch (err) {
      // Redelivered after ack_wait; its idempotency key makes the replay store nothing.
      this.s.lastError = (err as Error).message;
      this.log.warn({ seq, err: this.s.lastError }, 'nats ingest ack failed; the entry will be redelivered');
    }
  }

  /** Publishes the entry to `<subject>.dead` (stored, deduplicated by its seq), then terminates it. */
  private async toDead(m: JsMsg, reason: string): Promise<void> {
    const seq = m.info.streamSequence;
    try {
      await this.dead!.publish(m.data, reason, seq, m.subject, m.info.deliveryCount);
    } catch (err) {
      // Not stored as a dead letter: the entry stays in the stream and is tried again later.
      this.s.lastError = (err as Error).message;
      this.log.warn({ seq, err: this.s.lastError }, 'nats dead-letter publish failed; will retry');
      m.nak(backoffMs(this.o.retryDelayMs, m.info.deliveryCount));
      return;
    }
    m.term();
    this.s.deadLettered++;
    this.log.warn({ seq, reason }, 'nats ingest entry dead-lettered');
  }

  private async watchConnection(nc: NatsConnection): Promise<void> {
    for await (const st of nc.status()) {
      if (st.type === 'disconnect' || st.type === 'staleConnection') {
        this.s.connected = false;
        this.s.lastError = `disconnected from ${String(st.data)}`;
        this.log.warn({ status: st.type }, 'nats ingest connection lost; reconnecting');
      } else if (st.type === 'reconnect') {
        this.s.connected = true;
        this.log.info('nats ingest reconnected');
      } else if (st.type === 'error') {
        this.s.lastError = String(st.data);
      }
    }
  }

  /** The consumer or stream deleted under us (an operator, a reset server): declare them again. */
  private async watchConsumer(messages: ConsumerMessages): Promise<void> {
    for await (const st of await messages.status()) {
      if (st.type === ConsumerEvents.ConsumerNotFound || st.type === ConsumerEvents.StreamNotFound) {
        this.s.lastError = `${st.type}`;
        await this.ensureTopology().catch((err: Error) => (this.s.lastError = err.message));
      }
    }
  }

  private async refreshLag(): Promise<void> {
    if (this.stopping || !this.s.connected) return;
    try {
      const info = await this.jsm!.consumers.info(this.o.stream, this.o.durable);
      this.s.lag = info.num_pending + info.num_ack_pending;
    } catch {
      // Stale lag until the next refresh; the connection state tells the rest.
    }
  }

  /** A pause that stop() cuts short. */
  private pause(ms: number): Promise<void> {
    const pause = wakeablePause(ms);
    this.wake = pause.wake;
    return pause.done;
  }
}

/** Acks and naks are fire-and-forget writes that throw once the connection is closed; JetStream redelivers then. */
function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // left to redelivery after ack_wait
  }
}

