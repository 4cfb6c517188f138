/**
 * RabbitMQ ingest (DESIGN.md §7, docs/ingest.md): consumes publish bodies from a
 * durable queue (declared here, default `herald.ingest`) with manual acks. Every
 * node consumes the same queue, so RabbitMQ hands each message to one node.
 *
 * Rules (the IngestSource contract, source.ts):
 * - A message is acked only after the publish pipeline resolved (stored, for a
 *   reliable message). A node that dies holding messages leaves them unacked:
 *   RabbitMQ requeues them with the `redelivered` flag for another consumer.
 * - Idempotency key: the body's own `idempotency_key`, else `amqp:<message_id>`
 *   from the message_id property, else none. Without either, a redelivery after a
 *   crash between store and ack stores the message a second time.
 * - A message that can never succeed (body over ingestAmqpMaxBytes, not JSON, a
 *   4xx from the pipeline other than 409/429) is published to `<queue>.dead`
 *   (durable, declared here) with the reason in header `x-herald-reason`, confirmed
 *   by the broker, marked as dead-lettered (amqpDeadMarks.ts), then acked: never a
 *   poison loop. A redelivered entry already marked is acked without a second dead letter.
 * - A transient failure (engine down, 409 idempotency key in progress, 429) holds
 *   the message for ingestAmqpRetryDelayMs, then nacks it with requeue: no hot loop.
 * - A lost connection or channel: reconnect with capped exponential backoff and
 *   full jitter, redeclare, consume again. Messages held at the loss are requeued
 *   by the broker (their acks can no longer be sent, and are not attempted).
 * - Every call to the broker has a timeout (ingestAmqpTimeoutMs).
 */
import { connect, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { dropConnection, ensureQueue, NACKED, passiveDeclare, withHeartbeat } from './amqpChannels.js';
import type { Logger } from '../observability/logger.js';
import { wakeablePause, withTimeout } from '../runtime/timeouts.js';
import { deadMarkKey, MemoryDeadMarks, type AmqpDeadMarks } from './amqpDeadMarks.js';
import { classifyIngestFailure, withIdempotencyKey, type IngestPublish, type IngestSource, type IngestSourceStats } from './source.js';

export interface AmqpSourceOptions {
  /** amqp:// or amqps:// URL; `heartbeat=10` is added unless the URL sets one. */
  url: string;
  queue: string;
  prefetch: number;
  concurrency: number;
  maxBytes: number;
  retryDelayMs: number;
  timeoutMs: number;
  reconnectMaxMs: number;
  /** First reconnect pause; doubles per failed attempt up to reconnectMaxMs. */
  reconnectBaseMs?: number;
  nodeId: string;
  publish: IngestPublish;
  logger: Logger;
  /** Where dead-lettered entries are marked (default: in memory, this process only). */
  deadMarks?: AmqpDeadMarks;
}

/** The reason header of a dead letter. */
export const REASON_HEADER = 'x-herald-reason';
/** Longest reason written to the header (zod messages can be long; headers are bounded). */
const MAX_REASON_CHARS = 1000;
const LAG_REFRESH_MS = 1000;

interface Held {
  msg: ConsumeMessage;
  /** The channel that delivered it: delivery tags mean nothing on another channel. */
  ch: ConfirmChannel;
}

export class AmqpSource implements IngestSource {
  readonly kind = 'amqp';
  readonly name: string;
  readonly deadQueue: string;
  private readonly o: Required<AmqpSourceOptions>;
  private readonly log: Logger;
  private conn: ChannelModel | undefined;
  private ch: ConfirmChannel | undefined;
  private consumerTag: string | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  /** Resolves the current connection's "lost" wait. */
  private lost: (() => void) | undefined;
  private readonly wakers = new Set<() => void>();
  /** Delivered, waiting for a concurrency slot. */
  private readonly waiting: Held[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private readonly counts = { consumed: 0, deadLettered: 0, redelivered: 0, deadLetterUnconfirmed: 0 };
  private lastError: string | undefined;
  private lag: number | undefined;
  private lagRead = 0;
  private lagInFlight = false;

  constructor(opts: AmqpSourceOptions) {
    this.o = { reconnectBaseMs: 250, deadMarks: new MemoryDeadMarks(), ...opts };
    this.name = opts.queue;
    this.deadQueue = `${opts.queue}.dead`;
    this.log = opts.logger.child({ component: 'ingest', source: 'amqp', queue: opts.queue });
  }

  /**
   * Resolves after the first connection attempt, successful or not: a broker that is down at
   * boot must not keep the node from serving WebSockets and the HTTP API. Later attempts run in
   * the background (connected: false until one succeeds; /readyz and the admin page show it).
   */
  async start(): Promise<void> {
    if (this.loop) throw new Error('amqp ingest started twice');
    let first!: () => void;
    const firstAttempt = new Promise<void>((r) => (first = r));
    this.loop = this.run(first);
    await firstAttempt;
  }

  /** Cancels the consumer, requeues what waits, lets in-flight messages finish (acked), closes. */
  async stop(): Promise<void> {
    if (this.stopping) return this.loop;
    this.stopping = true;
    for (const wake of this.wakers) wake();
    const ch = this.ch;
    if (ch && this.consumerTag !== undefined) {
      await withTimeout(ch.cancel(this.consumerTag), this.o.timeoutMs, 'basic.cancel').catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'cancel failed'));
    }
    // Not started yet: back to the queue at once, for another node.
    for (const h of this.waiting.splice(0)) this.settle(h, 'requeue');
    await Promise.allSettled([...this.inflight]);
    this.lost?.();
    await this.loop;
    await this.o.deadMarks.close?.().catch(() => undefined);
  }

  /** Messages this node holds: being published, held for a retry, or waiting for a slot. */
  get busy(): number {
    return this.inflight.size + this.waiting.length;
  }

  stats(): IngestSourceStats {
    if (Date.now() - this.lagRead >= LAG_REFRESH_MS && !this.lagInFlight && this.conn && this.ch) this.refreshLag(this.conn);
    return {
      connected: this.ch !== undefined,
      ...this.counts,
      ...(this.lag !== undefined ? { lag: this.lag } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  /** Messages ready in the queue (not delivered to any consumer), read with a passive-equivalent declare. */
  private refreshLag(conn: ChannelModel): void {
    this.lagInFlight = true;
    this.lagRead = Date.now();
    passiveDeclare(conn, this.o.queue, this.o.timeoutMs)
      .then((q) => {
        if (q) this.lag = q.messageCount;
      })
      .catch(() => undefined)
      .finally(() => (this.lagInFlight = false));
  }

  /** Connect, consume until the connection is lost, pause, again; until stop(). */
  private async run(firstAttemptDone: () => void): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      let connectedOnce = false;
      try {
        const { lost } = await this.connectOnce();
        connectedOnce = true;
        failures = 0;
        firstAttemptDone();
        await lost;
      } catch (err) {
        if (!this.stopping) this.lastError = (err as Error).message;
        if (!this.stopping) this.log.warn({ err: this.lastError, failures: failures + 1 }, 'RabbitMQ connection failed; retrying');
      } finally {
        firstAttemptDone();
        await this.teardown();
      }
      if (this.stopping) break;
      if (connectedOnce) this.log.warn({ err: this.lastError }, 'RabbitMQ connection lost; reconnecting');
      failures++;
      // Full jitter over a capped exponential: nodes that lost the broker together do not return together.
      const cap = Math.min(this.o.reconnectMaxMs, this.o.reconnectBaseMs * 2 ** Math.min(failures - 1, 20));
      await this.pause(cap / 2 + Math.random() * (cap / 2));
    }
  }

  /** Opens connection and channel, declares, consumes. `lost` settles when either is lost (boxed: an async function would adopt it). */
  private async connectOnce(): Promise<{ lost: Promise<void> }> {
    const t = this.o.timeoutMs;
    const connecting = connect(withHeartbeat(this.o.url), { timeout: t, clientProperties: { connection_name: `herald:${this.o.nodeId}:ingest` } });
    const conn = await withTimeout(connecting, t, 'connect').catch((err: unknown) => {
      // A handshake that completes after we gave up must not linger as an idle connection.
      connecting.then((late) => late.close().catch(() => undefined), () => undefined);
      throw err;
    });
    this.conn = conn;
    // Bound to this connection: a late close event of an earlier one must not end the next.
    let markLost!: () => void;
    const lost = new Promise<void>((resolve) => (markLost = resolve));
    this.lost = markLost;
    conn.on('error', (err: Error) => (this.lastError = err.message));
    conn.on('close', () => markLost());
    conn.on('blocked', (reason: string) => this.log.warn({ reason }, 'RabbitMQ blocked the connection'));
    if (this.stopping) throw new Error('stopping');
    const ch = await withTimeout(conn.createConfirmChannel(), t, 'channel.open');
    ch.on('error', (err: Error) => (this.lastError = err.message));
    // A channel closed by the broker (e.g. the queue was deleted under us): start over on a new connection.
    ch.on('close', () => markLost());
    await ensureQueue(conn, ch, this.o.queue, t);
    await ensureQueue(conn, ch, this.deadQueue, t);
    await withTimeout(ch.prefetch(this.o.prefetch), t, 'basic.qos');
    if (this.stopping) throw new Error('stopping');
    const ok = await withTimeout(
      ch.consume(this.o.queue, (msg) => {
        // null: the broker cancelled the consumer (queue deleted): reconnect, which declares it again.
        if (msg === null) markLost();
        else this.accept({ msg, ch });
      }),
      t,
      'basic.consume',
    );
    this.ch = ch;
    this.consumerTag = ok.consumerTag;
    this.lastError = undefined;
    this.log.info({ prefetch: this.o.prefetch, concurrency: this.o.concurrency }, 'RabbitMQ ingest consuming');
    return { lost };
  }

  /** Drops the connection's state; the broker requeues whatever it had delivered and not seen acked. */
  private async teardown(): Promise<void> {
    const conn = this.conn;
    const ch = this.ch;
    this.conn = undefined;
    this.ch = undefined;
    this.consumerTag = undefined;
    this.lost = undefined;
    // Messages that waited for a slot belong to the lost channel: they come back redelivered.
    this.waiting.length = 0;
    // The channel first: its close-ok comes after the broker processed the acks sent before it,
    // whereas closing the connection at once may drop acks still buffered for the channel.
    if (ch) await withTimeout(ch.close(), this.o.timeoutMs, 'channel.close').catch(() => undefined);
    if (conn) await withTimeout(conn.close(), this.o.timeoutMs, 'connection.close').catch(() => undefined);
  }

  private accept(h: Held): void {
    if (this.stopping) {
      this.settle(h, 'requeue');
      return;
    }
    this.waiting.push(h);
    this.pump();
  }

  private pump(): void {
    while (this.inflight.size < this.o.concurrency && this.waiting.length > 0) {
      const h = this.waiting.shift()!;
      const p = this.handle(h).catch((err: unknown) => this.log.error({ err }, 'amqp ingest handler failed'));
      this.inflight.add(p);
      void p.finally(() => {
        this.inflight.delete(p);
        this.pump();
      });
    }
  }

  private async handle(h: Held): Promise<void> {
    const { msg } = h;
    if (msg.fields.redelivered) this.counts.redelivered++;
    if (msg.content.length > this.o.maxBytes) {
      return this.toDead(h, `body of ${msg.content.length} bytes is over the limit of ${this.o.maxBytes} (ingestAmqpMaxBytes)`);
    }
    let body: unknown;
    try {
      body = JSON.parse(msg.content.toString('utf8'));
    } catch (err) {
      return this.toDead(h, `payload is not JSON: ${(err as Error).message}`);
    }
    const messageId = msg.properties.messageId as unknown;
    const keyed = typeof messageId === 'string' && messageId !== '' ? withIdempotencyKey(body, `amqp:${messageId}`) : body;
    try {
      await this.o.publish(keyed);
    } catch (err) {
      if (classifyIngestFailure(err) === 'dead') {
        return this.toDead(h, `rejected (${(err as { status: number }).status}): ${(err as Error).message}`);
      }
      this.lastError = (err as Error).message;
      this.log.warn({ err: this.lastError, redelivered: msg.fields.redelivered }, 'ingest message failed; requeued after a delay');
      await this.pause(this.o.retryDelayMs);
      this.settle(h, 'requeue');
      return;
    }
    if (this.settle(h, 'ack')) this.counts.consumed++;
  }

  /** Publishes the message to the dead-letter queue with the reason, waits for the broker's confirm, then acks. */
  private async toDead(h: Held, reason: string): Promise<void> {
    const { msg, ch } = h;
    const p = msg.properties;
    const key = deadMarkKey(this.o.queue, msg);
    const t = this.o.timeoutMs;
    // Only a redelivery can have been dead-lettered already (a first delivery never was): one lookup per redelivered poison entry.
    // A failed lookup dead-letters it (at least once beats lost).
    if (msg.fields.redelivered && (await withTimeout(this.o.deadMarks.has(key), t, 'dead mark read').catch(() => false))) {
      this.settle(h, 'ack');
      this.log.info({ messageId: p.messageId }, 'redelivered entry was already dead-lettered; acked');
      return;
    }
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          ch.sendToQueue(
            this.deadQueue,
            msg.content,
            {
              persistent: true,
              headers: { ...(p.headers ?? {}), [REASON_HEADER]: reason.slice(0, MAX_REASON_CHARS), 'x-herald-node': this.o.nodeId },
              ...(p.messageId !== undefined ? { messageId: p.messageId as string } : {}),
              ...(p.contentType !== undefined ? { contentType: p.contentType as string } : {}),
              ...(p.correlationId !== undefined ? { correlationId: p.correlationId as string } : {}),
            },
            (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(NACKED)) : resolve()),
          );
        }),
        this.o.timeoutMs,
        'dead-letter confirm',
      );
    } catch (err) {
      this.lastError = (err as Error).message;
      if (this.lastError === NACKED) {
        // The broker refused it, so it holds no copy: requeueing is exact.
        this.log.warn({ err: this.lastError }, 'dead letter nacked by the broker; message left for redelivery');
        this.settle(h, 'requeue');
        return;
      }
      // Timed out, or the channel closed first: the broker may or may not hold the dead letter.
      // Requeueing on a live channel (or closing it gracefully) would deliver a publish that a stalled
      // network still holds, and the redelivery would be dead-lettered a second time. So the connection
      // is dropped without a close handshake; the broker requeues the message.
      this.counts.deadLetterUnconfirmed++;
      this.log.warn({ err: this.lastError, messageId: p.messageId }, 'dead letter not confirmed; connection dropped, message left for redelivery');
      if (h.ch === this.ch && this.conn) dropConnection(this.conn, `dead letter not confirmed: ${this.lastError}`);
      return;
    }
    // Before the ack: a connection lost from here on redelivers the entry, and the mark stops a second dead letter.
    await withTimeout(this.o.deadMarks.mark(key), t, 'dead mark write').catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'dead letter not marked; a redelivery would dead-letter it again'));
    if (this.settle(h, 'ack')) this.counts.deadLettered++;
    this.log.warn({ reason, messageId: p.messageId }, 'ingest message dead-lettered');
  }

  /** Acks or requeues on the delivering channel; false when that channel is gone (the broker requeued it). */
  private settle(h: Held, how: 'ack' | 'requeue'): boolean {
    if (h.ch !== this.ch) return false;
    try {
      if (how === 'ack') h.ch.ack(h.msg);
      else h.ch.nack(h.msg, false, true);
      return true;
    } catch {
      return false;
    }
  }

  /** A pause that stop() cuts short. */
  private pause(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    const pause = wakeablePause(ms);
    this.wakers.add(pause.wake);
    return pause.done.then(() => {
      this.wakers.delete(pause.wake);
    });
  }
}
