/**
 * The PostgreSQL outbox for the ingest scenario
 * (docs/ingest.md#postgresql-transactional-outbox): a table unique to the run,
 * created by the nodes; the producer inserts rows in small transactions of its
 * own, some of which it rolls back (those rows must never be pushed); dead
 * rows are read from `<table>_dead`.
 */
import pg from 'pg';
import { bestEffort, type Broker, type Outgoing } from './broker.js';
import type { DeadLetterRecord } from './entries.js';

const URL = process.env.HERALD_STRESS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export class PgBroker implements Broker {
  readonly kind = 'pg';
  readonly upstream: { host: string; port: number };
  readonly table: string;
  private db: pg.Client | undefined;

  constructor(tag: string) {
    this.table = `herald_stress_${tag.toLowerCase()}`;
    const u = new globalThis.URL(URL);
    this.upstream = { host: u.hostname, port: Number(u.port || 5432) };
  }

  nodeEnv(proxyPort: number): Record<string, string> {
    const u = new globalThis.URL(URL);
    u.host = `127.0.0.1:${proxyPort}`;
    return {
      HERALD_INGEST_PG_URL: u.toString(),
      HERALD_INGEST_PG_TABLE: this.table,
      HERALD_INGEST_PG_BATCH: '16',
      HERALD_INGEST_PG_POLL_MS: '500',
      HERALD_INGEST_PG_RETRY_DELAY_MS: '200',
      HERALD_INGEST_PG_TIMEOUT_MS: '3000',
    };
  }

  async open(): Promise<void> {
    const db = new pg.Client({ connectionString: URL, connectionTimeoutMillis: 5000, query_timeout: 10_000 });
    db.on('error', () => {});
    await db.connect();
    this.db = db;
  }

  /** One producer transaction: every row committed together, or (rollback) none. */
  async produce(batch: readonly Outgoing[], rollback = false): Promise<void> {
    const db = this.need();
    await db.query('BEGIN');
    try {
      for (const { entry, bytes } of batch) {
        entry.sends++;
        const r = await db.query<{ id: string }>(`INSERT INTO "${this.table}"(payload) VALUES ($1::jsonb) RETURNING id::text AS id`, [bytes.toString('utf8')]);
        entry.ref = r.rows[0]?.id;
      }
      await db.query(rollback ? 'ROLLBACK' : 'COMMIT');
      if (!rollback) for (const { entry } of batch) entry.confirmed = true;
    } catch (err) {
      await db.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  async backlog(): Promise<number> {
    return (await this.need().query<{ n: number }>(`SELECT count(*)::int AS n FROM "${this.table}"`)).rows[0]?.n ?? 0;
  }

  async deadCount(): Promise<number> {
    return (await this.need().query<{ n: number }>(`SELECT count(*)::int AS n FROM "${this.table}_dead"`)).rows[0]?.n ?? 0;
  }

  async deadLetters(): Promise<DeadLetterRecord[]> {
    const r = await this.need().query<{ ref: string; reason: string }>(`SELECT original_id::text AS ref, reason FROM "${this.table}_dead" ORDER BY id`);
    return r.rows.map((x) => ({ source: 'pg' as const, ref: x.ref, reason: x.reason }));
  }

  async cleanup(): Promise<void> {
    const db = this.db;
    if (!db) return;
    await bestEffort(
      () => db.query(`DROP TABLE IF EXISTS "${this.table}", "${this.table}_dead"`),
      () => db.query(`DROP FUNCTION IF EXISTS "${this.table}_notify"()`),
      () => db.end(),
    );
    this.db = undefined;
  }

  private need(): pg.Client {
    if (!this.db) throw new Error('pg producer not open');
    return this.db;
  }
}
