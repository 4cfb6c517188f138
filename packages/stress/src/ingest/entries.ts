/**
 * What the ingest scenario's producers put into RabbitMQ, NATS JetStream and
 * the PostgreSQL outbox, and what it reads back: the entries (each with its
 * expected fate), the messages stored in the users' inboxes, the dead letters.
 * Plain data, so the ingest invariants (ingestInvariants.ts) are pure
 * functions over it.
 */

export type IngestKind = 'amqp' | 'nats' | 'pg';

/**
 * - `valid`: must be stored exactly once for each target user (one seq each) and never dead-lettered;
 * - `poison`: must be dead-lettered exactly once, with a reason matching `reason`, and never stored;
 * - `void`: written in a producer transaction that was rolled back: must leave no trace at all.
 */
export type EntryFate = 'valid' | 'poison' | 'void';

export interface IngestEntry {
  /** Scenario-unique id, carried in the body's `data.e` (when the body has data) and as AMQP message_id. */
  id: string;
  source: IngestKind;
  fate: EntryFate;
  /** Publish id (data.p): maps a device's delivery back to the entry, like an HTTP publish. */
  pid: number;
  tenant: string;
  users: string[];
  device?: string;
  /** Expected dead-letter reason (poison only). */
  reason?: RegExp;
  /** What the poison is, for reports ("not JSON", "unknown field"…). */
  label?: string;
  /** The broker's identity of the entry once it holds it: AMQP message_id, NATS stream sequence, outbox row id. */
  ref?: string;
  /** The broker confirmed it has the entry (publisher confirm, PubAck, COMMIT). Unconfirmed entries are ambiguous. */
  confirmed: boolean;
  /** Times the producer sent it (a producer retry sends the same entry again with the same broker identity). */
  sends: number;
}

/** One message found in a user's inbox. */
export interface StoredEntry {
  tenant: string;
  user: string;
  seq: number;
  /** `data.e` of the stored message (undefined: not one of the scenario's entries). */
  entry: string | undefined;
  device?: string;
}

/** One dead letter as read back from the source's dead-letter queue, stream or table. */
export interface DeadLetterRecord {
  source: IngestKind;
  /** The broker identity of the entry it came from (message_id, stream sequence, original row id). */
  ref: string;
  reason: string;
  /** The Herald process that wrote it (RabbitMQ: header x-herald-node), when the source says. */
  node?: string;
}

/** The publish body of a valid entry: data carries the publish id, tenant and entry id (see clients.ts). */
export function entryBody(e: IngestEntry): Record<string, unknown> {
  const to: Record<string, unknown> = e.users.length === 1 ? { user: e.users[0], tenant: e.tenant } : { users: e.users, tenant: e.tenant };
  if (e.device !== undefined) to.device = e.device;
  return { to, data: { p: e.pid, t: e.tenant, e: e.id, s: e.source } };
}
