/**
 * Sends the outbox to the webhook URL: per partition, one signed POST of
 * `{"events":[…]}` at a time (so a user's events arrive in order), up to
 * `batchSize` events, read every `batchMs` (so an event waits at most about
 * that long when the receiver keeps up).
 *
 * A batch that fails (timeout, network, any non-2xx) is sent again, the same
 * events with the same ids, after a capped exponential backoff with full
 * jitter: 500 ms, 1 s, 2 s … up to maxBackoffMs. A 4xx other than 408/429 is
 * most likely a receiver bug, but dropping events on it would lose them for
 * good, so it is retried too and counted apart (outcome "rejected"). Events
 * older than the retention window are dropped from the batch and counted.
 * Answers are read bounded and otherwise ignored: a 2xx with garbage is fine.
 *
 * Nothing here runs on a gateway hot path: a dead receiver costs one timer
 * per partition, never a blocked publish.
 */
import { postJson, PostError } from '../outbound/post.js';
import type { Logger } from '../observability/logger.js';
import { batchBody } from './event.js';
import type { Outbox, OutboxEntry } from './outbox.js';
import type { WebhookStats } from './stats.js';

export interface SenderOptions {
  url: string;
  secret: string;
  batchSize: number;
  batchMs: number;
  timeoutMs: number;
  retentionMs: number;
  maxBackoffMs: number;
}

const FIRST_BACKOFF_MS = 500;
/** Answers are not used: read at most this much of one. */
const MAX_ANSWER_BYTES = 64 * 1024;

interface PartitionState {
  running: boolean;
  batch: OutboxEntry[] | undefined;
  attempt: number;
  retryAt: number;
}

export class Sender {
  private readonly state = new Map<number, PartitionState>();
  private timer: NodeJS.Timeout | undefined;
  private readonly running = new Set<Promise<void>>();
  private stopped = false;
  /** True while reading the outbox fails (Redis away): logged once per streak, not per tick and partition. */
  private readFailing = false;

  constructor(
    private readonly outbox: Outbox,
    private readonly o: SenderOptions,
    private readonly stats: WebhookStats,
    private readonly log: Logger,
  ) {
    outbox.busy = (p) => {
      const s = this.state.get(p);
      return s !== undefined && (s.running || s.batch !== undefined);
    };
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.o.batchMs);
    this.timer.unref();
  }

  /** Stops taking work and waits (bounded by the caller) for requests in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.running]);
  }

  /** One round: every owned partition without a request in flight gets a turn. */
  tick(): void {
    if (this.stopped) return;
    for (const p of this.outbox.owned()) {
      let s = this.state.get(p);
      if (!s) this.state.set(p, (s = { running: false, batch: undefined, attempt: 0, retryAt: 0 }));
      if (s.running) continue;
      s.running = true;
      const run = this.run(p, s)
        .then(
          () => {
            this.readFailing = false;
          },
          (err: unknown) => {
            if (!this.readFailing) this.log.warn({ err: (err as Error).message, partition: p }, 'webhook outbox read failed; retrying');
            this.readFailing = true;
          },
        )
        .finally(() => {
          s.running = false;
          this.running.delete(run);
        });
      this.running.add(run);
    }
  }

  private async run(p: number, s: PartitionState): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      if (s.batch === undefined) {
        const got = await this.outbox.take(p, this.o.batchSize);
        if (got.length === 0) return;
        s.batch = got;
        s.attempt = 0;
        s.retryAt = 0;
      }
      const now = Date.now();
      if (s.retryAt > now) return;
      // Past retention: dropped, counted, never sent.
      const expired = s.batch.filter((e) => now - e.ts > this.o.retentionMs);
      if (expired.length > 0) {
        await this.outbox.done(p, expired);
        for (const e of expired) this.stats.bump('dropped_retention', e.type);
        s.batch = s.batch.filter((e) => now - e.ts <= this.o.retentionMs);
        if (s.batch.length === 0) {
          s.batch = undefined;
          continue;
        }
      }
      const batch = s.batch;
      const t0 = performance.now();
      try {
        await postJson(this.o.url, batchBody(batch.map((e) => e.json)), { timeoutMs: this.o.timeoutMs, maxResponseBytes: MAX_ANSWER_BYTES, secret: this.o.secret }, false);
      } catch (err) {
        this.failed(s, batch, err);
        return;
      } finally {
        this.stats.latency.observe((performance.now() - t0) / 1000);
      }
      await this.outbox.done(p, batch);
      for (const e of batch) this.stats.bump('delivered', e.type);
      this.stats.lastSuccessAt = Date.now();
      s.batch = undefined;
      // A full batch means more may be waiting: go on at once instead of waiting for the next tick.
      if (batch.length < this.o.batchSize) return;
    }
  }

  private failed(s: PartitionState, batch: OutboxEntry[], err: unknown): void {
    const status = err instanceof PostError ? err.status : undefined;
    const rejected = status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
    for (const e of batch) this.stats.bump(rejected ? 'rejected' : 'retried', e.type);
    s.attempt++;
    const cap = Math.min(this.o.maxBackoffMs, FIRST_BACKOFF_MS * 2 ** Math.min(s.attempt - 1, 20));
    // Full jitter, never below a tenth of the cap: receivers coming back are not hit by every node at once.
    s.retryAt = Date.now() + Math.floor(cap / 10 + Math.random() * cap * 0.9);
    const message = err instanceof Error ? err.message : String(err);
    this.stats.lastError = { at: Date.now(), message: status !== undefined ? `HTTP ${status}` : message, events: batch.length };
    // One line per failing streak and then every 10th attempt: a dead receiver must not flood the log.
    if (s.attempt === 1 || s.attempt % 10 === 0) this.log.warn({ err: message, status, attempt: s.attempt, events: batch.length }, 'webhook delivery failed; retrying');
  }
}
