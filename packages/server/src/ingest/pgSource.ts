/**
 * PostgreSQL transactional outbox ingest (DESIGN.md §7, docs/ingest.md). A
 * backend inserts publish bodies into the outbox table in the same
 * transaction as its own writes (`INSERT INTO herald_outbox(payload) VALUES
 * ($1)`), so "commit the order, then push it" is atomic: the push exists
 * exactly when the order does.
 *
 * Each node, in a loop:
 *   BEGIN; claim up to `batch` rows in id order with FOR UPDATE SKIP LOCKED
 *   (rows another node holds are skipped, never waited for); publish each with
 *   the idempotency key `outbox:<table>:<id>` (unless the body has its own);
 *   delete the published rows and move bad ones to `<table>_dead` with the
 *   reason; COMMIT.
 * A crash between the pipeline's store and COMMIT rolls the claim back; the
 * next claim publishes the row again and the idempotency key makes that store
 * nothing. A transient failure (engine down, 409, 429) rolls the batch back
 * and waits (doubling up to 60 s); a row failing transiently `maxAttempts`
 * times (counted by this node) is moved to the dead table instead.
 *
 * Woken by LISTEN on a dedicated connection (the table's AFTER INSERT
 * trigger NOTIFYs the channel named like the table), with a poll every
 * `pollMs` as the backstop for a missed notification or a lost listener.
 * Both connections reconnect with backoff after a loss. The DDL and the
 * connection settings are in pgSetup.ts.
 */
import pg from 'pg';
import type { HeraldConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { wakeablePause } from '../runtime/timeouts.js';
import { backoffMs, decodeIngestBody, rejectionReason } from './body.js';
import { connectOutbox, destroyClient, endClient, ensureOutboxTables, outboxNames, type OutboxNames } from './pgSetup.js';
import { classifyIngestFailure, withIdempotencyKey, type IngestPublish, type IngestSource, type IngestSourceStats } from './source.js';

export interface PgSourceOptions {
  url: string;
  /** A lower-case SQL identifier (checked: refused otherwise). */
  table: string;
  batch: number;
  concurrency: number;
  pollMs: number;
  retryDelayMs: number;
  maxAttempts: number;
  timeoutMs: number;
  /** Bounds of one row's payload, as for an HTTP body (httpMaxBodyBytes, maxJsonDepth). */
  maxBodyBytes: number;
  maxJsonDepth: number;
  publish: IngestPublish;
  logger: Logger;
  nodeId: string;
}

const LAG_REFRESH_MS = 5_000;
/** Lag counts at most this many rows: an exact count of a huge backlog would cost more than it tells. */
const LAG_COUNT_CAP = 100_000;
const LISTENER_CHECK_MS = 10_000;
/** Rows remembered for redelivery counts and attempt limits; forgotten wholesale beyond it (bounded memory). */
const SEEN_CAP = 100_000;

/** The source for `config`, or undefined when HERALD_INGEST_PG_URL is unset. */
export function fromConfig(config: HeraldConfig, publish: IngestPublish, logger: Logger, nodeId: string): IngestSource | undefined {
  if (!config.ingestPgUrl) return undefined;
  return new PgSource({
    url: config.ingestPgUrl,
    table: config.ingestPgTable,
    batch: config.ingestPgBatch,
    concurrency: config.ingestPgConcurrency,
    pollMs: config.ingestPgPollMs,
    retryDelayMs: config.ingestPgRetryDelayMs,
    maxAttempts: config.ingestPgMaxAttempts,
    timeoutMs: config.ingestPgTimeoutMs,
    maxBodyBytes: config.httpMaxBodyBytes,
    maxJsonDepth: config.maxJsonDepth,
    publish,
    logger,
    nodeId,
  });
}

interface OutboxRow {
  id: string;
  size: number;
  /** payload::text, or null when larger than maxBodyBytes (not loaded). */
  payload: string | null;
}

type BatchOutcome = { kind: 'done'; claimed: number } | { kind: 'retry'; error: string };

export class PgSource implements IngestSource {
  readonly kind = 'pg';
  readonly name: string;
  readonly deadTable: string;
  private readonly o: PgSourceOptions;
  private readonly log: Logger;
  private readonly q: OutboxNames;
  private client: pg.Client | undefined;
  private listener: pg.Client | undefined;
  private loop: Promise<void> | undefined;
  private listenLoop: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private stopping = false;
  private destroyed = false;
  private started = false;
  /** A NOTIFY (or stop) arrived since the last claim: claim again at once. */
  private notified = false;
  private wakeWork: (() => void) | undefined;
  private wakeListener: (() => void) | undefined;
  private lastLag = 0;
  /** Row id → transient failures of that row seen by this node (0: seen in a rolled-back batch). */
  private readonly seen = new Map<string, number>();
  private readonly s: IngestSourceStats = { connected: false, consumed: 0, deadLettered: 0, redelivered: 0 };

  constructor(opts: PgSourceOptions) {
    this.q = outboxNames(opts.table);
    this.o = opts;
    this.name = opts.table;
    this.deadTable = `${opts.table}_dead`;
    this.log = opts.logger.child({ component: 'ingest', source: 'pg', table: opts.table });
  }

  stats(): IngestSourceStats {
    return { ...this.s };
  }

  async start(): Promise<void> {
    if (this.started) throw new Error('pg ingest started twice');
    this.started = true;
    try {
      this.client = await this.connect('work');
      await this.ensureTables(this.client);
    } catch (err) {
      this.s.lastError = (err as Error).message;
      await this.client?.end().catch(() => {});
      this.client = undefined;
      this.started = false;
      throw err;
    }
    this.s.connected = true;
    this.notified = true; // rows inserted before start are work too
    this.loop = this.run();
    this.listenLoop = this.listen();
    this.log.info({ dead: this.deadTable }, 'pg outbox ingest started');
  }

  async stop(): Promise<void> {
    if (!this.started || this.destroyed) return;
    if (this.stopped) return this.stopped;
    this.stopping = true;
    this.stopped = (async () => {
      this.wakeWork?.();
      this.wakeListener?.();
      // The batch in hand is published and committed (or rolled back) before the clients close.
      await Promise.all([this.loop, this.listenLoop]);
      await Promise.all([endClient(this.client), endClient(this.listener)]);
      this.s.connected = false;
    })();
    return this.stopped;
  }

  /** Drops both connections at once, finishing nothing: what a crash looks like to PostgreSQL (tests). */
  destroy(): void {
    this.destroyed = true;
    this.stopping = true;
    this.wakeWork?.();
    this.wakeListener?.();
    for (const c of [this.client, this.listener]) destroyClient(c);
    this.s.connected = false;
  }

  private connect(role: 'work' | 'listen'): Promise<pg.Client> {
    return connectOutbox(role, {
      url: this.o.url,
      nodeId: this.o.nodeId,
      timeoutMs: this.o.timeoutMs,
      onError: (err) => {
        this.s.lastError = `${role} connection: ${err.message}`;
        if (role === 'work') this.s.connected = false;
      },
    });
  }

  /** Outbox, dead table and NOTIFY trigger, created if absent (pgSetup.ts). */
  private ensureTables(c: pg.Client): Promise<void> {
    return ensureOutboxTables(c, this.q);
  }

  private async run(): Promise<void> {
    let connFailures = 0;
    let retryFailures = 0;
    let lastLagAt = 0;
    while (!this.stopping) {
      try {
        if (!this.client) {
          this.client = await this.connect('work');
          await this.ensureTables(this.client);
          this.s.connected = true;
          this.log.info('pg outbox ingest reconnected');
        }
        this.notified = false;
        const r = await this.claimBatch(this.client);
        connFailures = 0;
        if (Date.now() - lastLagAt >= LAG_REFRESH_MS || (r.kind === 'done' && r.claimed === 0)) {
          lastLagAt = Date.now();
          await this.refreshLag(this.client);
        }
        if (r.kind === 'retry') {
          retryFailures++;
          this.s.lastError = r.error;
          await this.pauseWork(backoffMs(this.o.retryDelayMs, retryFailures), false);
          continue;
        }
        retryFailures = 0;
        // A full batch means more may be waiting: claim again at once.
        if (r.claimed < this.o.batch) await this.pauseWork(this.o.pollMs, true);
      } catch (err) {
        if (this.stopping) break;
        connFailures++;
        this.s.connected = false;
        this.s.lastError = (err as Error).message;
        if (connFailures === 1) this.log.warn({ err: this.s.lastError }, 'pg outbox ingest failed; reconnecting');
        // Whatever the transaction held is rolled back by the server when the connection goes.
        destroyClient(this.client);
        this.client = undefined;
        await this.pauseWork(backoffMs(100, connFailures, 10_000), false);
      }
    }
  }

  /** One transaction: claim, publish, delete / move to dead, commit. Throws on a database error. */
  private async claimBatch(c: pg.Client): Promise<BatchOutcome> {
    const { table, dead } = this.q;
    // A database error anywhere below propagates: the caller drops the connection, which rolls the transaction back.
    await c.query('BEGIN');
    const { rows } = await c.query<OutboxRow>(
      `SELECT id::text AS id, octet_length(payload::text) AS size,
              CASE WHEN octet_length(payload::text) > $2 THEN NULL ELSE payload::text END AS payload
         FROM ${table} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [this.o.batch, this.o.maxBodyBytes],
    );
    if (rows.length === 0) {
      await c.query('COMMIT');
      return { kind: 'done', claimed: 0 };
    }
    const done: string[] = [];
    const deadIds: string[] = [];
    const deadReasons: string[] = [];
    let retry: { id: string; error: string } | undefined;
    const toDead = (id: string, reason: string): void => {
      deadIds.push(id);
      deadReasons.push(reason);
    };
    const handle = async (row: OutboxRow): Promise<void> => {
      if (this.seen.has(row.id)) this.s.redelivered++;
      if (row.payload === null) return toDead(row.id, `payload too large: ${row.size} bytes (max ${this.o.maxBodyBytes})`);
      const decoded = decodeIngestBody(row.payload, row.size, { maxBytes: this.o.maxBodyBytes, maxDepth: this.o.maxJsonDepth });
      if (!decoded.ok) return toDead(row.id, decoded.reason);
      try {
        await this.o.publish(withIdempotencyKey(decoded.body, `outbox:${this.o.table}:${row.id}`));
        done.push(row.id);
      } catch (err) {
        if (classifyIngestFailure(err) === 'dead') return toDead(row.id, rejectionReason(err));
        const msg = (err as Error).message ?? String(err);
        const attempts = (this.seen.get(row.id) ?? 0) + 1;
        if (attempts >= this.o.maxAttempts) return toDead(row.id, `failed ${attempts} times (max ${this.o.maxAttempts}) without success; last error: ${msg}`);
        this.remember(row.id, attempts);
        retry ??= { id: row.id, error: msg };
      }
    };
    // In id order; with concurrency > 1 a window of rows at once. After a transient failure no new row starts.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (!retry && next < rows.length) await handle(rows[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency, rows.length) }, worker));
    if (retry) {
      await c.query('ROLLBACK');
      for (const r of rows) if (!this.seen.has(r.id)) this.remember(r.id, 0);
      this.log.warn({ id: retry.id, err: retry.error }, 'pg outbox publish failed; batch rolled back, will retry');
      return { kind: 'retry', error: retry.error };
    }
    if (done.length > 0) await c.query(`DELETE FROM ${table} WHERE id = ANY($1::bigint[])`, [done]);
    if (deadIds.length > 0) {
      await c.query(
        `WITH r AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS r(id, reason)),
              d AS (DELETE FROM ${table} t USING r WHERE t.id = r.id RETURNING t.id, t.payload::text AS payload, t.created_at, r.reason)
         INSERT INTO ${dead} (original_id, payload, created_at, reason, node) SELECT id, payload, created_at, reason, $3 FROM d`,
        [deadIds, deadReasons, this.o.nodeId],
      );
    }
    await c.query('COMMIT');
    this.s.consumed += done.length;
    this.s.deadLettered += deadIds.length;
    for (const id of done) this.seen.delete(id);
    for (let i = 0; i < deadIds.length; i++) {
      this.seen.delete(deadIds[i]!);
      this.log.warn({ id: deadIds[i], reason: deadReasons[i] }, 'pg outbox row moved to the dead table');
    }
    return { kind: 'done', claimed: rows.length };
  }

  private remember(id: string, attempts: number): void {
    if (this.seen.size >= SEEN_CAP) this.seen.clear();
    this.seen.set(id, attempts);
  }

  private async refreshLag(c: pg.Client): Promise<void> {
    const { rows } = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 FROM ${this.q.table} LIMIT ${LAG_COUNT_CAP}) s`);
    this.lastLag = rows[0]?.n ?? 0;
    this.s.lag = this.lastLag;
  }

  /** The LISTEN connection: wakes the work loop on NOTIFY; reconnects with backoff; checked every few seconds. */
  private async listen(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        if (!this.listener) {
          const l = await this.connect('listen');
          l.on('notification', () => this.wake());
          await l.query(`LISTEN ${this.q.table}`);
          this.listener = l;
          failures = 0;
          // Rows inserted while no one listened would otherwise wait for the poll.
          this.wake();
        }
        await this.pauseListener(LISTENER_CHECK_MS);
        if (this.stopping) break;
        await this.listener.query('SELECT 1');
      } catch (err) {
        if (this.stopping) break;
        failures++;
        this.s.lastError = `listen connection: ${(err as Error).message}`;
        if (failures === 1) this.log.warn({ err: this.s.lastError }, 'pg outbox LISTEN connection lost; reconnecting (polling meanwhile)');
        destroyClient(this.listener);
        this.listener = undefined;
        await this.pauseListener(backoffMs(100, failures, 10_000));
      }
    }
  }

  private wake(): void {
    this.notified = true;
    this.wakeWork?.();
  }

  /** Waits `ms`, cut short by stop() and, when `onNotify`, by a NOTIFY (also one that came during the batch). */
  private pauseWork(ms: number, onNotify: boolean): Promise<void> {
    if (this.stopping || (onNotify && this.notified)) return Promise.resolve();
    const pause = wakeablePause(ms);
    this.wakeWork = onNotify ? pause.wake : () => this.stopping && pause.wake();
    return pause.done.then(() => {
      this.wakeWork = undefined;
    });
  }

  private pauseListener(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    const pause = wakeablePause(ms);
    this.wakeListener = pause.wake;
    return pause.done.then(() => {
      this.wakeListener = undefined;
    });
  }
}
