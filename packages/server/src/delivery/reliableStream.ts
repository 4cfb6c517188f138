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
 * The deadline is kept beside the timer and the timer is moved lazily: an ack
 * that leaves nothing unacked does not cancel it, and a message written when
 * nothing is unacked does not reschedule one that fires sooner; a timer that
 * fires before the deadline is set again for the rest of it (or does nothing
 * when nothing is unacked). So a device that acks as it goes costs no wheel
 * operation per message (issue 20), and a resend still never comes before the
 * deadline.
 */
import { CloseCode } from '@herald/protocol';
import type { InboxMessage, InboxStore, Retention } from '../engine/types.js';
import { TimerEntry, type TimingWheel } from '../runtime/timingWheel.js';
import type { AckedMessage, LifecycleEvents, SessionRef } from '../events/lifecycle.js';
import type { EncodedFrame, ReliableEncodings } from '../protocol/encodedFrame.js';
import type { Logger } from '../observability/logger.js';

export interface ReliableSettings {
  ackTimeoutMs: number;
  ackMaxAttempts: number;
  maxInflight: number;
  replayBatch: number;
  retention: Retention;
}

/** Where a stream writes: the device's session (DeliverySession implements it). */
export interface StreamSink extends SessionRef {
  /** Writes a frame in the session's encoding; false when it cannot take it now. */
  send(frame: EncodedFrame): boolean;
  close(code: number, reason: string): void;
}

/** What every stream of a node shares: one object, not closures per stream. */
export interface ReliableHost {
  readonly inbox: InboxStore;
  readonly wheel: TimingWheel;
  readonly settings: ReliableSettings;
  readonly log: Logger;
  /** Encodings of each message, built once and shared by every recipient. */
  readonly encodings: ReliableEncodings;
  /** Where delivered, acked, retried and expired are reported. */
  readonly events: LifecycleEvents;
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
  /** Made on first use: most connections never have a reliable message in flight, and an idle one holds none. */
  private timer: AckTimer | undefined;
  private cursorWrite: Promise<void> | undefined;
  private cursorDirty = false;
  /**
   * Seqs written to this device and not yet acked, ascending (undefined when none): an ack
   * counts exactly the messages this device was sent, not seqs it skipped as another device's.
   */
  private flight: number[] | undefined;
  /** Their message ids, kept only while a listener wants acked messages listed. */
  private flightIds: string[] | undefined;

  constructor(
    private readonly conn: StreamSink,
    private readonly host: ReliableHost,
    start: number,
  ) {
    this.sent = this.awaiting = this.acked = this.knownTip = start;
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
    this.reportAcked(seq);
    this.acked = seq;
    if (this.awaiting < this.acked) this.awaiting = this.acked;
    this.attempts = 0;
    // Everything acked: the timer stays, and finds nothing to resend if it fires (no wheel operation here).
    if (this.awaiting > this.acked) this.setDeadline(this.host.settings.ackTimeoutMs);
    this.persistCursor();
    if (!this.pulling && this.needsPull() && !this.windowFull()) void this.pull();
  }

  /**
   * `sync` from the client: replay everything after `from` — the start point resolved for the
   * client's `after` (later than it when retention dropped messages). Returns `from`.
   * Throws AckError when `after` is ahead of what was sent.
   */
  resync(after: number, from: number): number {
    if (after > this.sent) throw new AckError(`sync after ${after} is beyond the last sent seq ${this.sent}`);
    this.generation++;
    this.sent = this.awaiting = this.acked = from;
    this.flight = this.flightIds = undefined;
    this.attempts = 0;
    this.disarm();
    this.pulling = false;
    void this.pull();
    return from;
  }

  close(): void {
    this.closed = true;
    this.disarm();
    this.flight = this.flightIds = undefined;
  }

  /** Takes the written messages with seq ≤ `seq` out of the flight list and reports them acked. */
  private reportAcked(seq: number): void {
    const flight = this.flight;
    if (flight === undefined) return;
    let n = 0;
    while (n < flight.length && flight[n]! <= seq) n++;
    if (n === 0) return;
    const ids = this.flightIds;
    let messages: AckedMessage[] | undefined;
    if (ids !== undefined && ids.length === flight.length) {
      messages = [];
      for (let i = 0; i < n; i++) messages.push({ seq: flight[i]!, id: ids[i]! });
    }
    // All acked (the usual case: a device acks as it goes): drop the lists rather than splice them.
    if (n === flight.length) this.flight = this.flightIds = undefined;
    else {
      flight.splice(0, n);
      if (messages !== undefined) ids!.splice(0, n);
    }
    this.host.events.acked(this.conn, n, messages);
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
    if (m.platform !== undefined && m.platform !== this.conn.platform) return;
    if (m.expiresAt !== undefined && m.expiresAt <= Date.now()) {
      this.host.events.expired(this.conn, 1);
      return;
    }
    // Live: the user's devices share the encoding without caching it per message (encodedFrame.ts).
    if (!this.conn.send(this.host.encodings.of(m, !replay))) return;
    // Nothing was unacked: this message starts the ack deadline.
    const idle = this.awaiting <= this.acked;
    this.awaiting = m.seq;
    const flight = (this.flight ??= []);
    flight.push(m.seq);
    // Ids stay aligned with seqs, or are not kept at all (a listener added mid-flight waits for the next batch).
    if (this.host.events.wantsAckedMessages && (this.flightIds?.length ?? 0) === flight.length - 1) (this.flightIds ??= []).push(m.id);
    else this.flightIds = undefined;
    this.host.events.delivered(this.conn, m, replay);
    if (idle) {
      this.attempts = 1;
      this.setDeadline(this.host.settings.ackTimeoutMs);
    }
  }

  /** Reads from the inbox until caught up with everything known, or the window fills. */
  private async pull(): Promise<void> {
    if (this.pulling || this.closed) return;
    this.pulling = true;
    const gen = this.generation;
    const { inbox, settings } = this.host;
    const c = this.conn;
    try {
      while (!this.closed && gen === this.generation && !this.windowFull()) {
        const room = Math.min(settings.replayBatch, settings.maxInflight - (this.awaiting - this.acked));
        const from = this.sent;
        const range = await inbox.readAfter(c.tenant, c.user, from, room, settings.retention);
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
      this.fireWithin(this.host.settings.ackTimeoutMs, Date.now());
    } finally {
      if (gen === this.generation) this.pulling = false;
    }
  }

  /** The unacked messages are resent `ms` from now unless acked: the timer fires by then. */
  private setDeadline(ms: number): void {
    const now = Date.now();
    (this.timer ??= new AckTimer(this)).due = now + ms;
    this.fireWithin(ms, now);
  }

  /** Makes the timer fire within `ms` of `now`: scheduled anew unless it already fires by then. */
  private fireWithin(ms: number, now: number): void {
    const timer = (this.timer ??= new AckTimer(this));
    if (timer.scheduled && timer.at <= now + ms) return;
    timer.at = now + ms;
    this.host.wheel.schedule(timer, ms);
  }

  private disarm(): void {
    if (this.timer) this.host.wheel.cancel(this.timer);
  }

  /** The ack timer fired (called by AckTimer only). */
  onAckTimeout(): void {
    if (this.closed) return;
    if (this.awaiting <= this.acked) {
      // Nothing unacked: a timer left from acked messages, or one retrying a failed read.
      if (this.needsPull()) void this.pull();
      return;
    }
    const timer = this.timer!;
    const now = Date.now();
    if (timer.due > now) {
      // Fired for an earlier deadline: wait for this one.
      this.fireWithin(timer.due - now, now);
      return;
    }
    if (this.attempts >= this.host.settings.ackMaxAttempts) {
      this.conn.close(CloseCode.AckTimeout, `no ack for seq ${this.acked + 1} after ${this.attempts} attempts`);
      return;
    }
    this.attempts++;
    this.setDeadline(this.host.settings.ackTimeoutMs * 2 ** (this.attempts - 1));
    void this.resend();
  }

  /** Resends everything unacked, in order. */
  private async resend(): Promise<void> {
    const c = this.conn;
    const gen = this.generation;
    const upTo = this.awaiting;
    try {
      const range = await this.host.inbox.readAfter(c.tenant, c.user, this.acked, upTo - this.acked, this.host.settings.retention);
      if (this.closed || gen !== this.generation) return;
      let n = 0;
      for (const m of range.messages) {
        if (m.seq > upTo || m.seq <= this.acked) continue;
        if (m.device !== undefined && m.device !== c.device) continue;
        if (m.platform !== undefined && m.platform !== c.platform) continue;
        if (c.send(this.host.encodings.of(m))) n++;
      }
      if (n > 0) this.host.events.retried(c, n);
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
    // One reaction per write (not .catch().finally(): three promises and two closures per ack);
    // its handlers are made once per stream, at its first ack, and kept with its timer (an idle stream holds neither).
    const settled = ((this.timer ??= new AckTimer(this)).settled ??= [() => this.cursorWritten(false), (err: unknown) => this.cursorWritten(true, err)]);
    this.cursorWrite = this.host.inbox.setCursor(c.tenant, c.user, c.device, this.acked).then(settled[0], settled[1]);
  }

  /** The last cursor write settled (`failed`: logged): write again if acks came meanwhile. */
  private cursorWritten(failed: boolean, err?: unknown): void {
    if (failed) this.host.log.warn({ err, conn: this.conn.id }, 'cursor write failed');
    this.cursorWrite = undefined;
    if (this.cursorDirty) {
      this.cursorDirty = false;
      this.persistCursor();
    }
  }

  /** Waits for the last cursor write (graceful shutdown). */
  async flush(): Promise<void> {
    while (this.cursorWrite) await this.cursorWrite;
  }
}

/** The stream's wheel entry: fires into the stream, with no closure (and its captured scope) per stream. */
class AckTimer extends TimerEntry {
  /** When the unacked messages are due for a resend, ms since the epoch. */
  due = 0;
  /** When the wheel fires this entry (while scheduled), ms since the epoch. */
  at = 0;
  /** The stream's cursor-write handlers (ReliableStream.persistCursor), made at its first ack. */
  settled: [() => void, (err: unknown) => void] | undefined;

  constructor(private readonly stream: ReliableStream) {
    super();
  }

  override fire(): void {
    this.stream.onAckTimeout();
  }
}
