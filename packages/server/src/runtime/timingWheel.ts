/**
 * One hashed timing wheel drives every connection deadline (auth, heartbeat,
 * ack retry, token expiry): one interval timer for the whole process instead
 * of a setTimeout per connection per message (DESIGN.md §4).
 *
 * Precision is one tick: a timer fires between `delay` and `delay + tick` ms
 * after it was set. Entries are reusable objects owned by their users, so
 * rescheduling allocates nothing.
 */

/**
 * What the wheel links and fires. A subclass overrides `fire` (no closure, and no callback
 * field, per entry); an object may be its own entry (gateway/connection.ts: one object less
 * per connection).
 */
export class WheelEntry {
  /** Slot index while scheduled; -1 when idle; -2 when due and about to fire in this tick. */
  slot = -1;
  /** Full wheel turns still to wait. */
  rounds = 0;
  prev: WheelEntry | null = null;
  next: WheelEntry | null = null;

  fire(): void {}

  get scheduled(): boolean {
    return this.slot >= 0;
  }
}

/** A wheel entry that runs `callback` when it fires. */
export class TimerEntry extends WheelEntry {
  constructor(private readonly callback?: () => void) {
    super();
  }

  override fire(): void {
    this.callback?.();
  }
}

export class TimingWheel {
  private readonly heads: (WheelEntry | null)[];
  private cursor = 0;
  private timer: NodeJS.Timeout | undefined;
  private count = 0;

  constructor(
    /** Tick length, ms. */
    readonly tickMs = 50,
    slots = 512,
    /** Called with what a callback threw; the other callbacks still run. */
    private readonly onError: (err: unknown) => void = (err) => console.error('timing wheel callback failed', err),
  ) {
    this.heads = new Array<WheelEntry | null>(slots).fill(null);
  }

  /** Entries currently scheduled. */
  get size(): number {
    return this.count;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** (Re)schedules `entry` to fire after `delayMs`. */
  schedule(entry: WheelEntry, delayMs: number): void {
    this.cancel(entry);
    const ticks = Math.max(1, Math.ceil(delayMs / this.tickMs));
    const n = this.heads.length;
    entry.rounds = Math.floor((ticks - 1) / n);
    const slot = (this.cursor + ticks) % n;
    entry.slot = slot;
    entry.prev = null;
    entry.next = this.heads[slot] ?? null;
    if (entry.next) entry.next.prev = entry;
    this.heads[slot] = entry;
    this.count++;
  }

  cancel(entry: WheelEntry): void {
    if (entry.slot >= 0) this.unlink(entry);
    else entry.slot = -1; // due in the current tick: it will not fire
  }

  private unlink(e: WheelEntry): void {
    if (e.prev) e.prev.next = e.next;
    else this.heads[e.slot] = e.next;
    if (e.next) e.next.prev = e.prev;
    e.prev = e.next = null;
    e.slot = -1;
    this.count--;
  }

  private readonly due: WheelEntry[] = [];

  /** Advances one tick and fires what is due. Public for deterministic unit tests. */
  tick(): void {
    this.cursor = (this.cursor + 1) % this.heads.length;
    // Collect first, fire second: a callback may cancel or reschedule any entry,
    // including others due in this very tick.
    let e = this.heads[this.cursor] ?? null;
    while (e) {
      const next: WheelEntry | null = e.next;
      if (e.rounds > 0) e.rounds--;
      else {
        this.unlink(e);
        e.slot = -2;
        this.due.push(e);
      }
      e = next;
    }
    for (let i = 0; i < this.due.length; i++) {
      const d = this.due[i]!;
      if (d.slot !== -2) continue;
      d.slot = -1;
      try {
        d.fire();
      } catch (err) {
        // A failing callback must not stop the wheel for everyone else.
        this.onError(err);
      }
    }
    this.due.length = 0;
  }
}
