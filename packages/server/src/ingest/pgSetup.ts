/**
 * What the PostgreSQL outbox ingest creates before it claims rows
 * (docs/ingest.md): the outbox table, its dead table and the NOTIFY trigger,
 * each only when absent; and the connections it opens, with the bounds every
 * query runs under.
 */
import pg from 'pg';

/** The outbox table name rule; `_dead` and `_notify` appended still fit PostgreSQL's 63-byte identifiers. */
export const PG_TABLE_PATTERN = /^[a-z_][a-z0-9_]{0,55}$/;

/** The quoted identifiers of one outbox (its name checked against PG_TABLE_PATTERN first). */
export interface OutboxNames {
  /** The bare name: also the NOTIFY channel. */
  name: string;
  table: string;
  dead: string;
  fn: string;
}

export function outboxNames(table: string): OutboxNames {
  if (!PG_TABLE_PATTERN.test(table)) throw new Error(`outbox table "${table}" is not a lower-case SQL identifier of at most 56 characters`);
  return { name: table, table: `"${table}"`, dead: `"${table}_dead"`, fn: `"${table}_notify"` };
}

/** Outbox, dead table and NOTIFY trigger, created if absent (serialised across nodes by an advisory lock). */
export async function ensureOutboxTables(c: pg.Client, n: OutboxNames): Promise<void> {
  const { table, dead, fn } = n;
  await c.query('BEGIN');
  try {
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`herald-outbox-setup:${n.name}`]);
    await c.query(`CREATE TABLE IF NOT EXISTS ${table} (id bigserial PRIMARY KEY, payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
    // payload as text: a dead row keeps exactly what was there, whatever the outbox column's type.
    await c.query(
      `CREATE TABLE IF NOT EXISTS ${dead} (id bigserial PRIMARY KEY, original_id bigint NOT NULL, payload text NOT NULL, created_at timestamptz NOT NULL, reason text NOT NULL, node text, dead_at timestamptz NOT NULL DEFAULT now())`,
    );
    // The channel is the table name; the name was checked against PG_TABLE_PATTERN, so it is safe in a literal.
    await c.query(`CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('${n.name}', ''); RETURN NULL; END $$`);
    // Only when missing: creating a trigger locks out inserts, and must not wait on a producer's open transaction.
    const trigger = await c.query(`SELECT 1 FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = 'herald_notify'`, [table]);
    if (trigger.rowCount === 0) await c.query(`CREATE TRIGGER herald_notify AFTER INSERT ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

export interface OutboxConnectOptions {
  url: string;
  nodeId: string;
  timeoutMs: number;
  /** Called on an error of the idle connection (without a listener it would crash the process). */
  onError: (err: Error) => void;
}

/** A connection of the ingest (`role`: the work loop or the LISTEN one), every query bounded. */
export async function connectOutbox(role: 'work' | 'listen', o: OutboxConnectOptions): Promise<pg.Client> {
  const c = new pg.Client({
    connectionString: o.url,
    application_name: `herald:${o.nodeId}:ingest-${role}`,
    connectionTimeoutMillis: o.timeoutMs,
    // Client side (a stalled connection) and server side bounds on every query.
    query_timeout: o.timeoutMs,
    statement_timeout: o.timeoutMs,
    // A node that hangs holding claimed rows releases them after this (the batch is redone elsewhere).
    idle_in_transaction_session_timeout: Math.max(60_000, o.timeoutMs * 6),
    keepAlive: true,
  });
  // The loops notice a broken connection on their next query.
  c.on('error', o.onError);
  try {
    await c.connect();
  } catch (err) {
    destroyClient(c);
    throw err;
  }
  return c;
}

/** Ends the connection politely, within 2 s, then closes its socket. */
export async function endClient(c: pg.Client | undefined): Promise<void> {
  if (!c) return;
  await Promise.race([c.end().catch(() => {}), new Promise((r) => setTimeout(r, 2_000).unref())]);
  destroyClient(c);
}

/** Closes the socket at once (no Terminate message): the server rolls back what the connection held. */
export function destroyClient(c: pg.Client | undefined): void {
  const stream = (c as unknown as { connection?: { stream?: { destroy(): void } } } | undefined)?.connection?.stream;
  stream?.destroy();
}
