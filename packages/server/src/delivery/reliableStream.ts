/**
 * The reliable stream of one device connection (DESIGN.md §2).
 *
 * The user's inbox is the source of truth; this object only tracks where the
 * device is in it:
 *   acked ≤ awaiting ≤ sent
 *   - sent: highest seq handled (written, or skipped because it targets another device)
 *   - awaiting: highest seq written to this device
 *   - acked: highest seq the device acked (cumulative)
 * Live messages are written directly when they are the next seq; anything
 * else (a gap, replay in progress, the in-flight window full) switches to
 * pulling from the inbox, which yields every message once and in order. So
 * replay merged with live traffic has no gap and no reordering, and nothing
 * is buffered per connection.
 *
 * One wheel timer per stream guards the oldest unacked message: on expiry
 * everything unacked is resent, the timeout doubling each attempt; after the
 * last attempt the connection closes 4012 and the messages stay in the inbox.
 */
import { CloseCode } from '@herald/protocol';
import type { Engine, InboxMessage, Retention } from '../engine/types.js';
import { TimerEntry, type TimingWheel } from '../gateway/timingWheel.js';
import type { Connection } from '../gateway/connection.js';
import type { WireFrame } from '../protocol/wireFrame.js';
import type { Logger } from '../observability/logger.js';

export interface ReliableSettings {
  ackTimeoutMs: number;
  ackMaxAttempts: number;
  maxInflight: number;
  replayBatch: number;
  retention: Retention;
}

/** What a stream needs from its node. */
export interface ReliableHost {
  readonly engine: Engine;
  readonly wheel: TimingWheel;
  readonly settings: ReliableSettings;
  readonly log: Logger;
  /** The encoded frame of a message, built once and shared by every recipient. */
  frameFor(message: InboxMessage): WireFrame;
  /** Counters for metrics. */
  onDelivered(message: InboxMessage, replay: boolean): void;
  onAcked(count: number): void;
  onRetried(count: number): void;
  /** Reliable messages skipped because their ttl ran out. */
  onExpired?(count: number): void;
}

export class AckError extends Error {}

export class ReliableStream {
  private sent: number;
  private awaiting: number;
  private acked: number;
  /** Highest seq known to exist (from live offers and inbox reads). */
  private knownTip: number;
  private attempts = 0;
  private pulling = false;
  /** The last inbox read failed (engine down): the tip is unknown, so read again when retrying. */
  private readFailed = false;
  /** Bumped by resync so an in-flight read started before it is discarded. */
  private generation = 0;
  private closed = false;
  private readonly timer: TimerEntry;
  private cursorWrite: Promise<void> | undefined;
  private cursorDirty = false;

  constructor(
    private readonly conn: Connection,
    private readonly host: ReliableHost,
    start: number,
  ) {
    this.sent = this.awaiting = this.acked = this.knownTip = start;
    this.timer = new TimerEntry(() => this.onAckTimeout());
  }

  /** The device's position, for tests and the admin view. */
  get position(): { sent: number; awaiting: number; acked: number } {
    return { sent: this.sent, awaiting: this.awaiting, acked: this.acked };
  }

  /** Starts delivering from the start point (replay, then live). */
  begin(): void {
    void this.pull();
  }

  /** A message was appended to the user's inbox (live path). */
  offer(m: InboxMessage): void {
    if (this.closed || m.seq <= this.sent) return;
    if (m.seq > this.knownTip) this.knownTip = m.seq;
    if (this.pulling) return; // the running pull will reach it
    if (m.seq !== this.sent + 1 || this.windowFull()) {
      void this.pull();
      return;
    }
    this.emit(m, false);
  }

  /** Re-reads the inbox once: live events may have been missed (engine transport outage). */
  poke(): void {
    if (!this.closed && !this.pulling) void this.pull();
  }

  /** A cumulative ack from the device. Throws AckError for a seq never sent. */
  ack(seq: number): void {
    if (seq > this.sent) throw new AckError(`ack ${seq} is beyond the last sent seq ${this.sent}`);
    if (seq <= this.acked) return; // stale or repeated: harmless
    this.host.onAcked(Math.max(0, Math.min(seq, this.awaiting) - this.acked));
    this.acked = seq;
    if (this.awaiting < this.acked) this.awaiting = this.acked;
    this.attempts = 0;
    if (this.awaiting > this.acked) this.host.wheel.schedule(this.timer, this.host.settings.ackTimeoutMs);
    else this.host.wheel.cancel(this.timer);
    this.persistCursor();
    if (!this.pulling && this.needsPull() && !this.windowFull()) void this.pull();
  }

  /**
   * `sync` from the client: replay everything after `after` (or after the retention floor, when
   * later). Returns where replay starts. Throws AckError when `after` is ahead of what was sent.
   */
  resync(after: number, floor = 0): number {
    if (after > this.sent) throw new AckError(`sync after ${after} is beyond the last sent seq ${this.sent}`);
    // Messages below the retention floor are gone: replay starts after it.
    const from = Math.max(after, floor);
    this.generation++;
    this.sent = this.awaiting = this.acked = from;
    this.attempts = 0;
    this.host.wheel.cancel(this.timer);
    this.pulling = false;
    void this.pull();
    return from;
  }

  close(): void {
    this.closed = true;
    this.host.wheel.cancel(this.timer);
  }

  /** Whether the inbox may hold messages this device has not been sent. */
  private needsPull(): boolean {
    return this.readFailed || this.knownTip > this.sent;
  }

  private windowFull(): boolean {
    return this.awaiting - this.acked >= this.host.settings.maxInflight;
  }

  private emit(m: InboxMessage, replay: boolean): void {
    this.sent = m.seq;
    if (m.device !== undefined && m.device !== this.conn.device) return;
    if (m.expiresAt !== undefined && m.expiresAt <= Date.now()) {
      this.host.onExpired?.(1);
      return;
    }
    if (!this.conn.sendWire(this.host.frameFor(m))) return;
    this.awaiting = m.seq;
    this.host.onDelivered(m, replay);
    if (!this.timer.scheduled) {
      this.attempts = 1;
      this.host.wheel.schedule(this.timer, this.host.settings.ackTimeoutMs);
    }
  }

  /** Reads from the inbox until caught up with everything known, or the window fills. */
  private async pull(): Promise<void> {
    if (this.pulling || this.closed) return;
    this.pulling = true;
    const gen = this.generation;
    const { engine, settings } = this.host;
    const c = this.conn;
    try {
      while (!this.closed && gen === this.generation && !this.windowFull()) {
        const room = Math.min(settings.replayBatch, settings.maxInflight - (this.awaiting - this.acked));
        const from = this.sent;
        const range = await engine.readAfter(c.tenant, c.user, from, room, settings.retention);
        this.readFailed = false;
        if (this.closed || gen !== this.generation) return;
        if (range.floor > this.sent) {
          // Retention dropped messages this device never got: say so rather than skip them.
          this.conn.close(CloseCode.SlowConsumer, `fell behind the inbox retention at seq ${this.sent}; reconnect to resync`);
          return;
        }
        if (range.tip > this.knownTip) this.knownTip = range.tip;
        for (const m of range.messages) if (m.seq > this.sent) this.emit(m, true);
        if (range.messages.length < room) {
          // Everything up to the tip was read: seqs in between were expired or trimmed.
          if (range.tip > this.sent) this.sent = range.tip;
          if (this.knownTip <= this.sent) break;
        }
      }
    } catch (err) {
      // The engine failed (e.g. Redis down): retry on the next ack timeout tick.
      this.host.log.warn({ err, conn: c.id }, 'inbox read failed; will retry');
      this.readFailed = true;
      if (!this.timer.scheduled) this.host.wheel.schedule(this.timer, this.host.settings.ackTimeoutMs);
    } finally {
      if (gen === this.generation) this.pulling = false;
    }
  }

  private onAckTimeout(): void {
    if (this.closed) return;
    if (this.awaiting <= this.acked) {
      // Timer used to retry a failed read.
      if (this.needsPull()) void this.pull();
      return;
    }
    if (this.attempts >= this.host.settings.ackMaxAttempts) {
      this.conn.close(CloseCode.AckTimeout, `no ack for seq ${this.acked + 1} after ${this.attempts} attempts`);
      return;
    }
    this.attempts++;
    this.host.wheel.schedule(this.timer, this.host.settings.ackTimeoutMs * 2 ** (this.attempts - 1));
    void this.resend();
  }

  /** Resends everything unacked, in order. */
  private async resend(): Promise<void> {
    const c = this.conn;
    const gen = this.generation;
    const upTo = this.awaiting;
    try {
      const range = await this.host.engine.readAfter(c.tenant, c.user, this.acked, upTo - this.acked, this.host.settings.retention);
      if (this.closed || gen !== this.generation) return;
      let n = 0;
      for (const m of range.messages) {
        if (m.seq > upTo || m.seq <= this.acked) continue;
        if (m.device !== undefined && m.device !== c.device) continue;
        if (c.sendWire(this.host.frameFor(m))) n++;
      }
      this.host.onRetried(n);
    } catch (err) {
      this.host.log.warn({ err, conn: c.id }, 'inbox read for resend failed');
    }
  }

  /** Stores the cursor, coalescing writes so a burst of acks is one engine call. */
  private persistCursor(): void {
    if (this.cursorWrite) {
      this.cursorDirty = true;
      return;
    }
    const c = this.conn;
    const seq = this.acked;
    this.cursorWrite = this.host.engine
      .setCursor(c.tenant, c.user, c.device, seq)
      .catch((err: unknown) => this.host.log.warn({ err, conn: c.id }, 'cursor write failed'))
      .finally(() => {
        this.cursorWrite = undefined;
        if (this.cursorDirty) {
          this.cursorDirty = false;
          this.persistCursor();
        }
      });
  }

  /** Waits for the last cursor write (graceful shutdown). */
  async flush(): Promise<void> {
    while (this.cursorWrite) await this.cursorWrite;
  }
}
