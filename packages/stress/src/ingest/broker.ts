/**
 * One real broker (RabbitMQ, NATS JetStream, PostgreSQL) as the ingest
 * scenario drives it: the node settings that point a source at it (through the
 * scenario's fault proxy), a producer on a direct connection (the business
 * side, never faulted), the read-back of what is left and of the dead letters,
 * and the clean-up of everything the run created. The services are shared
 * with other work: every name is unique per run, and everything is deleted.
 */
import { withTimeout } from '../wait.js';
import type { DeadLetterRecord, IngestEntry, IngestKind } from './entries.js';

/** The entry's bytes as the producer sends them (a valid body, or a poison one). */
export interface Outgoing {
  entry: IngestEntry;
  bytes: Buffer;
}

export interface Broker {
  readonly kind: IngestKind;
  /** Where the real service listens (the fault proxy's upstream). */
  readonly upstream: { host: string; port: number };
  /** HERALD_* settings of the nodes: the source's URL points at `proxyPort`. */
  nodeEnv(proxyPort: number): Record<string, string>;
  /** The producer's own connection (after the nodes declared the queue / stream / table). */
  open(): Promise<void>;
  /**
   * Sends one producer batch (one transaction for PostgreSQL; `rollback` aborts it). Sets each
   * entry's `ref` and `confirmed` from the broker's answer.
   */
  produce(batch: readonly Outgoing[], rollback?: boolean): Promise<void>;
  /** Entries still in the broker, not yet consumed (ready plus unacknowledged where it tells). */
  backlog(): Promise<number>;
  /** Dead letters written so far (a count: cheap, non-destructive). */
  deadCount(): Promise<number>;
  /** Every dead letter (read once, at the end: may consume them). */
  deadLetters(): Promise<DeadLetterRecord[]>;
  /** Deletes the queue / stream / table the run used, and closes the producer. Never throws. */
  cleanup(): Promise<void>;
}

/** Bound of each clean-up step: a shared broker that hangs must not hang the run. */
const STEP_MS = 10_000;

/** Runs every step, each bounded, ignoring failures: clean-up on failure paths must go as far as it can. */
export async function bestEffort(...steps: (() => Promise<unknown>)[]): Promise<void> {
  for (const s of steps) {
    try {
      await withTimeout('clean-up step', s(), STEP_MS);
    } catch {
      // best effort
    }
  }
}
