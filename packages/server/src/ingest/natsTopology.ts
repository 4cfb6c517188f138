/**
 * What the NATS JetStream ingest declares before it consumes (docs/ingest.md):
 * the ingest stream, the dead-letter stream and the durable pull consumer,
 * each created if absent. Run at start and again when JetStream reports the
 * consumer or stream gone (an operator deleted it, a reset server).
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, nanos, RetentionPolicy, StorageType, type JetStreamManager } from 'nats';
import type { Logger } from '../observability/logger.js';

export interface NatsTopology {
  stream: string;
  subject: string;
  durable: string;
  /** `<subject>.dead`. */
  deadSubject: string;
  maxDeliver: number;
  ackWaitMs: number;
  batch: number;
  /** Cap of the dead-letter stream when Herald creates it (oldest discarded). */
  deadMaxMessages?: number;
}

const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

/** JetStream's API error code of `err`, when it is one. */
export function apiErrCode(err: unknown): number | undefined {
  return (err as { api_error?: { err_code?: number } } | null)?.api_error?.err_code;
}

/**
 * Stream, dead-letter stream and durable consumer: created if absent, consumer settings kept in
 * step with the config. Returns the name of the stream the dead letters land in.
 */
export async function ensureNatsTopology(jsm: JetStreamManager, t: NatsTopology, log: Logger): Promise<string> {
  try {
    await jsm.streams.info(t.stream);
  } catch (err) {
    if (apiErrCode(err) !== STREAM_NOT_FOUND) throw err;
    // Two nodes adding the same config at once both succeed.
    await jsm.streams.add({ name: t.stream, subjects: [t.subject], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
    log.info({ stream: t.stream }, 'created the ingest stream');
  }
  // A stream an operator made for the dead subject is used as it is; otherwise Herald keeps one.
  let deadStream = await jsm.streams.find(t.deadSubject).catch(() => '');
  if (!deadStream) {
    deadStream = `${t.stream}_DEAD`;
    await jsm.streams.add({
      name: deadStream,
      subjects: [t.deadSubject],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      // A misbehaving producer must not fill the disk with dead letters.
      max_msgs: t.deadMaxMessages ?? 100_000,
      discard: DiscardPolicy.Old,
    });
  }
  const want = { max_deliver: t.maxDeliver, ack_wait: nanos(t.ackWaitMs), max_ack_pending: Math.max(1_000, t.batch * 4) };
  try {
    const info = await jsm.consumers.info(t.stream, t.durable);
    const c = info.config;
    if (c.max_deliver !== want.max_deliver || c.ack_wait !== want.ack_wait) await jsm.consumers.update(t.stream, t.durable, want);
  } catch (err) {
    if (apiErrCode(err) !== CONSUMER_NOT_FOUND) throw err;
    await jsm.consumers.add(t.stream, {
      durable_name: t.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: t.subject,
      ...want,
    });
  }
  return deadStream;
}
