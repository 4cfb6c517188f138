/**
 * The one ingest interface (DESIGN.md §7). A source takes publish bodies from a
 * queue the business already runs — a Redis Stream, RabbitMQ, NATS JetStream or
 * a PostgreSQL outbox table — and feeds each to the same publish pipeline as the
 * HTTP API. Every source keeps the same rules:
 * - an entry is acknowledged to its broker only after `publish` resolved (for a
 *   reliable message: stored);
 * - every entry carries an idempotency key (the body's own `idempotency_key`, else
 *   one derived from the broker's identity of the entry), so a redelivery after a
 *   crash between store and ack stores nothing new;
 * - an entry that can never succeed (see `classifyIngestFailure`) goes to the
 *   source's dead letter with the reason, then is acknowledged: never a poison loop;
 * - a transient failure (engine down, rate limited) is retried later, with a delay,
 *   never in a hot loop;
 * - `stop()` is called first on drain: it stops taking entries and waits for the
 *   ones in flight.
 */

/** Publishes one body through the pipeline. Rejects with an error carrying a numeric `status`. */
export type IngestPublish = (body: unknown) => Promise<void>;

export interface IngestSourceStats {
  /** Connected to its broker/database now. */
  connected: boolean;
  /** Entries published and acknowledged. */
  consumed: number;
  /** Entries sent to the dead letter. */
  deadLettered: number;
  /** Entries seen again after a failed or unacknowledged earlier delivery. */
  redelivered: number;
  /**
   * Dead letters whose publish was neither confirmed nor refused (timeout, connection lost): the
   * broker may hold one, and the entry's redelivery is dead-lettered again. RabbitMQ only.
   */
  deadLetterUnconfirmed?: number;
  /** Entries waiting in the broker, when the broker can tell cheaply (else undefined). */
  lag?: number;
  /** Message of the last connection or handling error, for /readyz detail and the admin page. */
  lastError?: string;
}

export interface IngestSource {
  /** `redis` | `amqp` | `nats` | `pg`: the metric label and the admin page's name for it. */
  readonly kind: string;
  /** What it consumes: a stream key, queue, stream/subject or table name. */
  readonly name: string;
  /** Connects, declares what it needs (queue, stream, table) and starts consuming. */
  start(): Promise<void>;
  /** Stops taking entries; resolves once the entries in flight are acknowledged or left to redelivery. */
  stop(): Promise<void>;
  stats(): IngestSourceStats;
}

/** What to do with an entry whose publish failed. */
export type IngestFailure = 'dead' | 'retry';

/** 409 (idempotency key in progress) and 429 (rate limited) pass; other 4xx never will. */
const TRANSIENT_4XX = new Set([409, 429]);

/** A 4xx other than 409/429 is the body's fault: dead letter. Anything else (5xx, network) is retried. */
export function classifyIngestFailure(err: unknown): IngestFailure {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500 && !TRANSIENT_4XX.has(status) ? 'dead' : 'retry';
}

/**
 * The body with `idempotency_key` set to `key` unless the producer chose one. Bodies
 * that are not objects are returned as they are: the pipeline refuses them (dead letter).
 */
export function withIdempotencyKey(body: unknown, key: string): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body) || 'idempotency_key' in body) return body;
  return { ...(body as Record<string, unknown>), idempotency_key: key };
}
