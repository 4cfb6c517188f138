/**
 * The client of one hook: a signed POST through outbound/post.ts (keep-alive
 * pool, timeout, bounded answer, request id, Herald-Signature), behind
 * bounded concurrency (slots.ts) and a circuit breaker (breaker.ts). A call
 * either returns the backend's answer, validated against its schema, or
 * throws a HookError naming why there is no decision; it never hangs past
 * its timeout, queue wait included.
 */
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { HookFailureReason, HookName } from '../observability/labels.js';
import type { Logger } from '../observability/logger.js';
import { postJson, PostError } from '../outbound/post.js';
import { CircuitBreaker, type BreakerState } from './breaker.js';
import type { HookMetrics } from './hookMetrics.js';
import { SlotError, Slots } from './slots.js';

export interface HookClientOptions {
  name: HookName;
  url: string;
  /** Whole call, queue wait included, ms. */
  timeoutMs: number;
  maxConcurrency: number;
  maxQueue: number;
  breakerFailures: number;
  breakerOpenMs: number;
  maxAnswerBytes: number;
  /** `webhookSecret`: signs every call when set. */
  secret: string | undefined;
}

/** A hook call that gave no decision. */
export class HookError extends Error {
  constructor(
    readonly hook: HookName,
    readonly reason: HookFailureReason,
    message: string,
  ) {
    super(`${hook} hook: ${message}`);
    this.name = 'HookError';
  }
}

/** Fast refusals (breaker open, queue full) are logged at most this often per hook, ms. */
const FAST_LOG_EVERY_MS = 5_000;

export class HookClient {
  private readonly slots: Slots;
  private readonly breaker: CircuitBreaker;
  private lastFastLog = 0;
  private fastSinceLog = 0;

  constructor(
    private readonly o: HookClientOptions,
    private readonly metrics: HookMetrics,
    private readonly log: Logger,
  ) {
    this.slots = new Slots(o.maxConcurrency, o.maxQueue);
    this.breaker = new CircuitBreaker({
      failures: o.breakerFailures,
      openMs: o.breakerOpenMs,
      onChange: (to, from) => {
        const line = { hook: o.name, from, to };
        if (to === 'open') log.warn({ ...line, openMs: o.breakerOpenMs }, `${o.name} hook breaker open: calls fail at once`);
        else log.info(line, `${o.name} hook breaker ${to === 'closed' ? 'closed' : 'half-open: one probe call'}`);
      },
    });
    metrics.register(o.name, { breaker: () => this.breaker.current, inFlight: () => this.slots.inFlight, queued: () => this.slots.queued });
  }

  get name(): HookName {
    return this.o.name;
  }

  get breakerState(): BreakerState {
    return this.breaker.current;
  }

  /** POSTs `body` and returns the answer parsed by `schema`; throws HookError. */
  async call<T>(body: unknown, schema: z.ZodType<T>): Promise<T> {
    const o = this.o;
    const started = performance.now();
    const admitted = this.breaker.admit();
    if (!admitted) throw this.fast('breaker_open', `breaker open after ${o.breakerFailures} consecutive failures`);
    try {
      const wait = this.slots.acquire(o.timeoutMs);
      if (wait) await wait;
    } catch (err) {
      // Never reached the backend: not the backend's failure, but a probe's turn is given back.
      this.breaker.release(admitted);
      if (err instanceof SlotError) throw this.fast(err.reason, err.message);
      throw err;
    }
    const left = Math.floor(o.timeoutMs - (performance.now() - started));
    if (left < 1) {
      // The slot came just as the wait ran out: no time left for the backend.
      this.slots.release();
      this.breaker.release(admitted);
      throw this.fast('queue_timeout', 'no free slot for this hook in time');
    }
    const requestId = randomUUID();
    try {
      const res = await postJson(o.url, JSON.stringify(body), { timeoutMs: left, maxResponseBytes: o.maxAnswerBytes, requestId, ...(o.secret !== undefined ? { secret: o.secret } : {}) });
      const parsed = schema.safeParse(res.json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue && issue.path.length > 0 ? `"${issue.path.join('.')}" ` : '';
        throw new HookError(o.name, 'bad_answer', `answer has the wrong shape: ${where}${issue?.message ?? 'invalid'}`);
      }
      this.breaker.success();
      this.metrics.ok(o.name, (performance.now() - started) / 1000);
      return parsed.data;
    } catch (err) {
      const failure = err instanceof HookError ? err : err instanceof PostError ? new HookError(o.name, err.reason, err.message) : undefined;
      if (!failure) throw err;
      this.breaker.failure();
      this.metrics.failed(o.name, failure.reason, (performance.now() - started) / 1000);
      // Never the body or the answer: they carry cookies, tokens and user data.
      this.log.warn({ hook: o.name, reason: failure.reason, req: requestId, err: failure.message }, `${o.name} hook call failed`);
      throw failure;
    } finally {
      this.slots.release();
    }
  }

  /** A refusal that never reached the backend: counted, logged at most every few seconds. */
  private fast(reason: 'breaker_open' | 'queue_full' | 'queue_timeout', message: string): HookError {
    this.metrics.failed(this.o.name, reason);
    this.fastSinceLog++;
    const now = Date.now();
    if (now - this.lastFastLog >= FAST_LOG_EVERY_MS) {
      this.log.warn({ hook: this.o.name, reason, refused: this.fastSinceLog }, `${this.o.name} hook refusing calls at once: ${message}`);
      this.lastFastLog = now;
      this.fastSinceLog = 0;
    }
    return new HookError(this.o.name, reason, message);
  }
}
