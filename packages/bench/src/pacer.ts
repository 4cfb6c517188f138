/**
 * Open-loop rate pacer. Sends are scheduled on a fixed timeline from the start
 * (send i is due at start + i/rate), so a slow tick is caught up on the next
 * one instead of silently lowering the rate. If the sender falls more than
 * `maxBacklog` sends behind (e.g. the HTTP in-flight limit is reached), the
 * excess is skipped and counted in `skipped` so the report shows the offered
 * rate was not achieved, rather than bursting an unbounded backlog later.
 * Time is passed in, which keeps the pacer deterministic under test.
 */
export class Pacer {
  private issued = 0;
  private skippedCount = 0;

  /**
   * @param ratePerSec sends per second; 0 or less means unpaced (always due)
   * @param startMs    the schedule's origin, in the same clock as `due(nowMs)`
   * @param limit      total sends allowed (Infinity for none)
   * @param maxBacklog most sends allowed to be overdue before they are skipped
   */
  constructor(
    readonly ratePerSec: number,
    readonly startMs: number,
    readonly limit = Number.POSITIVE_INFINITY,
    readonly maxBacklog = Number.POSITIVE_INFINITY,
  ) {}

  /** Sends that are due at `nowMs` and not yet taken. */
  due(nowMs: number): number {
    const remaining = this.limit - this.issued - this.skippedCount;
    if (remaining <= 0) return 0;
    if (this.ratePerSec <= 0) return remaining;
    const elapsed = Math.max(0, nowMs - this.startMs);
    // +1: send 0 is due at t=0.
    const scheduled = Math.min(this.limit, Math.floor((elapsed * this.ratePerSec) / 1000) + 1);
    let owed = scheduled - this.issued - this.skippedCount;
    if (owed > this.maxBacklog) {
      this.skippedCount += owed - this.maxBacklog;
      owed = this.maxBacklog;
    }
    return Math.max(0, owed);
  }

  /** Records that `n` sends were issued. */
  take(n: number): void {
    this.issued += n;
  }

  /** Milliseconds until the next send is due (0 if one is due now). */
  msUntilNext(nowMs: number): number {
    if (this.ratePerSec <= 0 || this.done) return 0;
    const nextIndex = this.issued + this.skippedCount;
    const at = this.startMs + (nextIndex * 1000) / this.ratePerSec;
    return Math.max(0, at - nowMs);
  }

  get sent(): number {
    return this.issued;
  }

  get skipped(): number {
    return this.skippedCount;
  }

  get done(): boolean {
    return this.issued + this.skippedCount >= this.limit;
  }
}
