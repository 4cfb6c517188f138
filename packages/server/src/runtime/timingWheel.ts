/**
 * One hashed timing wheel drives every connection deadline (auth, heartbeat,
 * ack retry, token expiry): one interval timer for the whole process instead
 * of a setTimeout per connection per message (DESIGN.md §4).
 *
 * Precision is one tick: a timer fires between `delay` and `delay + tick` ms
 * after it was set. Entries are reusable objects owned by their users, so
 * rescheduling allocates nothing.
 */

export class TimerEntry {
  /** Slot index while scheduled; -1 when idle; -2 when due and about to fire in this tick. */
  slot = -1;
  /** Full wheel turns still to wait. */
  rounds = 0;
  prev: TimerEntry | null = null;
  next: TimerEntry | null = null;
  /** `callback` runs when the timer fires; a subclass may override `fire` instead (no closure per entry). */
  constructor(private readonly callback?: () => void) {}

  fire(): void {
    this.callback?.();
  }

  get scheduled(): boolean {
    return this.slot >= 0;
  }
}

export class TimingWheel {
  private readonly heads: (TimerEntry | null)[];
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
    this.heads = new Array<TimerEntry | null>(slots).fill(null);
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
  schedule(entry: TimerEntry, delayMs: number): void {
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

  cancel(entry: TimerEntry): void {
    if (entry.slot >= 0) this.unlink(entry);
    else entry.slot = -1; // due in the current tick: it will not fire
  }

  private unlink(e: TimerEntry): void {
    if (e.prev) e.prev.next = e.next;
    else this.heads[e.slot] = e.next;
    if (e.next) e.next.prev = e.prev;
    e.prev = e.next = null;
    e.slot = -1;
    this.count--;
  }

  private readonly due: TimerEntry[] = [];

  /** Advances one tick and fires what is due. Public for deterministic unit tests. */
  tick(): void {
    this.cursor = (this.cursor + 1) % this.heads.length;
    // Collect first, fire second: a callback may cancel or reschedule any entry,
    // including others due in this very tick.
    let e = this.heads[this.cursor] ?? null;
    while (e) {
      const next: TimerEntry | null = e.next;
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
