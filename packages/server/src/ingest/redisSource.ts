/**
 * The Redis Stream ingest as an IngestSource (kind `redis`). StreamIngest keeps
 * its own API (its async `stats()` feeds the engine-level herald_ingest_* series
 * and its tests); this adapter adds what every source shares: the default
 * idempotency key `ingest:<entry id>` and the synchronous per-source stats.
 */
import type { Logger } from '../observability/logger.js';
import type { EngineStats } from '../engine/types.js';
import { StreamIngest, type StreamIngestOptions } from './streamIngest.js';
import { withIdempotencyKey, type IngestPublish, type IngestSource, type IngestSourceStats } from './source.js';

export type RedisStreamSourceOptions = Omit<StreamIngestOptions, 'handler' | 'logger'> & { publish: IngestPublish; logger: Logger };

/** Lag (entries not yet acked) is read from Redis at most this often; stats() returns the last reading. */
const LAG_REFRESH_MS = 1000;

export class RedisStreamSource implements IngestSource {
  readonly kind = 'redis';
  readonly ingest: StreamIngest;
  private lag: number | undefined;
  private lagRead = 0;
  private lagInFlight = false;

  constructor(opts: RedisStreamSourceOptions) {
    const { publish, ...rest } = opts;
    this.ingest = new StreamIngest({
      ...rest,
      // The entry id is the default idempotency key: an entry redelivered after a crash
      // between publish and XACK is not published twice.
      handler: (body, entry) => publish(withIdempotencyKey(body, `ingest:${entry.id}`)),
    });
  }

  get name(): string {
    return this.ingest.stream;
  }

  start(): Promise<void> {
    return this.ingest.start();
  }

  stop(): Promise<void> {
    return this.ingest.stop();
  }

  /** The engine-level series (herald_ingest_lag_seconds, …), as before sources existed. */
  async streamStats(): Promise<EngineStats> {
    const s = await this.ingest.stats();
    this.lag = s.ingestPending + s.ingestBacklog;
    this.lagRead = Date.now();
    return s;
  }

  stats(): IngestSourceStats {
    if (Date.now() - this.lagRead >= LAG_REFRESH_MS && !this.lagInFlight && this.ingest.connected) {
      // Not awaited: the next call sees the fresh value. One bounded round trip a second at most.
      this.lagInFlight = true;
      this.lagRead = Date.now();
      this.streamStats()
        .catch(() => undefined)
        .finally(() => (this.lagInFlight = false));
    }
    const i = this.ingest;
    return {
      connected: i.connected,
      consumed: i.handled,
      deadLettered: i.deadLettered,
      redelivered: i.redelivered,
      ...(this.lag !== undefined ? { lag: this.lag } : {}),
      ...(i.lastError !== undefined ? { lastError: i.lastError } : {}),
    };
  }
}
