/**
 * The dead-letter stream: where ingest entries go that will never succeed —
 * not JSON, no `payload` field, rejected by the publish pipeline (a 4xx), or
 * delivered too many times. Each dead entry keeps the original payload, the
 * reason and the original entry id, so an operator can inspect, fix and
 * re-add it (docs/scaling.md).
 *
 * Written before the original entry is acked and not in one transaction:
 * on Cluster the two streams live in different slots. A crash between the two
 * leaves the entry pending, so it may be dead-lettered twice — never lost.
 */
import type { RedisClient } from '../redis/connect.js';

export interface DeadLetterEntry {
  /** The entry's `payload` field as received ('' when absent). */
  payload: string;
  reason: string;
  /** Id of the entry in the ingest stream. */
  id: string;
  /** Consumer (node) that gave up on it. */
  consumer: string;
}

export class DeadLetters {
  constructor(
    private readonly client: RedisClient,
    readonly stream: string,
    /** Approximate cap: the dead-letter stream must not grow without bound when a producer misbehaves. */
    private readonly maxLen: number,
  ) {}

  async add(e: DeadLetterEntry): Promise<string> {
    const id = await this.client.xadd(this.stream, 'MAXLEN', '~', this.maxLen, '*', 'payload', e.payload, 'reason', e.reason, 'id', e.id, 'consumer', e.consumer, 'ts', String(Date.now()));
    return id ?? '';
  }
}
