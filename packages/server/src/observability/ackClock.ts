/**
 * Publish → ack latency without per-message state per device.
 *
 * Acks are cumulative and the delivery code reports only how many messages an
 * ack covered, not when they were published. So the node remembers, per user
 * with local connections, the newest reliable message (seq, publish time): an
 * ack of exactly that seq is observed. Under normal flow a device that keeps up
 * acks the newest message, so this is a faithful sample; a device acking a
 * backlog in one cumulative ack is observed once, for the newest message.
 * Memory: one small entry per recently written-to user, bounded by `max`
 * (the map is cleared when it grows past it).
 */
import { recordAckSpan, recordingSpanContext, type SpanContext } from './tracing.js';

interface Entry {
  seq: number;
  ts: number;
  span: SpanContext | undefined;
}

const SEP = '\u0000';

export class AckClock {
  private readonly latest = new Map<string, Entry>();

  constructor(
    private readonly observe: (seconds: number) => void,
    private readonly max = 100_000,
  ) {}

  /** A reliable message for a user with local devices was stored (call once per message, not per device). */
  stored(tenant: string, user: string, seq: number, ts: number): void {
    if (this.latest.size >= this.max) this.latest.clear();
    this.latest.set(tenant + SEP + user, { seq, ts, span: recordingSpanContext() });
  }

  /** A device of the user acked `seq` (cumulative). */
  acked(tenant: string, user: string, seq: number): void {
    const e = this.latest.get(tenant + SEP + user);
    if (e === undefined || e.seq !== seq) return;
    this.observe(Math.max(0, Date.now() - e.ts) / 1000);
    if (e.span) recordAckSpan(e.span, e.ts, { 'herald.seq': seq });
  }

  get size(): number {
    return this.latest.size;
  }
}
