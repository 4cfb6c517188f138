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

/** Ack timer times: ms since BASE, small integers (an epoch time is a new heap number per write, issue 20); only differences are used. */
const BASE = Date.now();
const clock = (): number => Date.now() - BASE;

/**
 * An inbox whose cursor write is done when the call returns (the memory engine): a stream
 * calls it instead of `setCursor`, so an ack costs no promise and no reaction (issue 20).
 * It must store exactly what `setCursor` would, and never fail.
 */
export interface SyncCursorStore {
  setCursorNow?(tenant: string, user: string, device: string, seq: number): void;
}

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
    if (m.seq !== this.sent + 1 || this.awaiting - this.acked >= this.host.settings.maxInflight) {
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
    const refusal = this.tryAck(seq);
    if (refusal !== undefined) throw new AckError(refusal);
  }

  /**
   * `ack` that returns why an ack is refused (a seq never sent) instead of throwing: the
   * gateway's path, once per reliable message, with no exception handler around it.
   */
  tryAck(seq: number): string | undefined {
    if (seq > this.sent) return `ack ${seq} is beyond the last sent seq ${this.sent}`;
    if (seq <= this.acked) return undefined; // stale or repeated: harmless
    const flight = this.flight;
    if (flight !== undefined) {
      // One message in flight and acked, no ids kept (a device that acks as it goes): inline.
      if (flight.length === 1 && flight[0]! <= seq && this.flightIds === undefined) {
        this.flight = undefined;
        this.host.events.acked(this.conn, 1, undefined);
      } else this.reportAcked(flight, seq);
    }
    this.acked = seq;
    if (this.awaiting < seq) this.awaiting = seq;
    this.attempts = 0;
    // Everything acked: the timer stays, and finds nothing to resend if it fires (no wheel operation here).
    if (this.awaiting > seq) this.setDeadline(this.host.settings.ackTimeoutMs);
    const inbox = this.host.inbox as InboxStore & SyncCursorStore;
    // Stored when the call returns (the memory engine): no promise and no reaction per ack.
    if (inbox.setCursorNow !== undefined && this.cursorWrite === undefined) inbox.setCursorNow(this.conn.tenant, this.conn.user, this.conn.device, seq);
    else this.persistCursor();
    if (!this.pulling && (this.readFailed || this.knownTip > this.sent) && !this.windowFull()) void this.pull();
    return undefined;
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
  private reportAcked(flight: number[], seq: number): void {
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
    let flight = this.flight;
    if (flight === undefined) this.flight = flight = [m.seq];
    else flight.push(m.seq);
    const events = this.host.events;
    // Ids stay aligned with seqs, or are not kept at all (a listener added mid-flight waits for the next batch).
    if (events.wantsAckedMessages && (this.flightIds?.length ?? 0) === flight.length - 1) (this.flightIds ??= []).push(m.id);
    else this.flightIds = undefined;
    events.delivered(this.conn, m, replay);
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
      this.fireWithin(this.host.settings.ackTimeoutMs, clock());
    } finally {
      if (gen === this.generation) this.pulling = false;
    }
  }

  /** The unacked messages are resent `ms` from now unless acked: the timer fires by then. */
  private setDeadline(ms: number): void {
    const now = clock();
    const timer = (this.timer ??= new AckTimer(this));
    timer.due = now + ms;
    // Already firing by then (the usual case once a device acks as it goes): nothing to move.
    if (timer.slot >= 0 && timer.at <= timer.due) return;
    timer.at = timer.due;
    this.host.wheel.schedule(timer, ms);
  }

  /** Makes the timer fire within `ms` of `now`: scheduled anew unless it already fires by then. */
  private fireWithin(ms: number, now: number): void {
    const timer = (this.timer ??= new AckTimer(this));
    if (timer.slot >= 0 && timer.at <= now + ms) return;
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
    const now = clock();
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

  /** Stores the cursor, coalescing writes so a burst of acks is one engine call (a SyncCursorStore is called in tryAck). */
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
  /** When the unacked messages are due for a resend, ms since BASE. */
  due = 0;
  /** When the wheel fires this entry (while scheduled), ms since BASE. */
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
