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
 * (the maps are cleared when they grow past it).
 *
 * Entries are found by tenant, then user (no key string built per message), and
 * a user's entry is updated in place (issue 20: this runs twice per reliable message).
 */
import { recordAckSpan, recordingSpanContext, type SpanContext } from './tracing.js';

interface Entry {
  seq: number;
  ts: number;
  span: SpanContext | undefined;
}

export class AckClock {
  /** tenant → user → the newest stored message. */
  private readonly latest = new Map<string, Map<string, Entry>>();
  private entries = 0;

  constructor(
    private readonly observe: (seconds: number) => void,
    private readonly max = 100_000,
  ) {}

  /** A reliable message for a user with local devices was stored (call once per message, not per device). */
  stored(tenant: string, user: string, seq: number, ts: number): void {
    const span = recordingSpanContext();
    let users = this.latest.get(tenant);
    const e = users?.get(user);
    if (e !== undefined) {
      e.seq = seq;
      e.ts = ts;
      e.span = span;
      return;
    }
    if (this.entries >= this.max) {
      this.latest.clear();
      this.entries = 0;
      users = undefined;
    }
    if (users === undefined) this.latest.set(tenant, (users = new Map()));
    users.set(user, { seq, ts, span });
    this.entries++;
  }

  /** A device of the user acked `seq` (cumulative). */
  acked(tenant: string, user: string, seq: number): void {
    const users = this.latest.get(tenant);
    if (users === undefined) return;
    const e = users.get(user);
    if (e === undefined || e.seq !== seq) return;
    const ms = Date.now() - e.ts;
    this.observe(ms > 0 ? ms / 1000 : 0);
    if (e.span) recordAckSpan(e.span, e.ts, { 'herald.seq': seq });
  }

  get size(): number {
    return this.entries;
  }
}
