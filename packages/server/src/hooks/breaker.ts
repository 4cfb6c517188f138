/**
 * A circuit breaker for one hook. Closed: calls go through and consecutive
 * failures are counted. After `failures` in a row it opens for `openMs`: calls
 * fail at once, without touching the backend, so a dead backend costs the
 * gateway nothing per connection. Then it half-opens: exactly one probe call
 * goes through; its success closes the breaker, its failure opens it again.
 */

export type BreakerState = 'closed' | 'open' | 'half_open';

/** Gauge values of `herald_hook_breaker_state`. */
export const BREAKER_GAUGE: Record<BreakerState, number> = { closed: 0, open: 1, half_open: 2 };

export interface BreakerOptions {
  failures: number;
  openMs: number;
  /** Called on every state change (logs, metrics). */
  onChange?: (to: BreakerState, from: BreakerState) => void;
  now?: () => number;
}

export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private consecutive = 0;
  private openedAt = 0;
  /** True while the half-open probe is out: every other call fails fast. */
  private probing = false;
  private readonly now: () => number;

  constructor(private readonly o: BreakerOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The current state; an open breaker whose time is up reads as half-open. */
  get current(): BreakerState {
    if (this.state === 'open' && this.now() - this.openedAt >= this.o.openMs) this.move('half_open');
    return this.state;
  }

  /**
   * Asks to make a call: 'call' (closed) or 'probe' (the one half-open probe) when it may go to
   * the backend, false when it must fail at once. Every admitted call is then reported once with
   * `success`, `failure` or (it never reached the backend) `release`.
   */
  admit(): 'call' | 'probe' | false {
    const s = this.current;
    if (s === 'closed') return 'call';
    if (s === 'open' || this.probing) return false;
    this.probing = true;
    return 'probe';
  }

  /** An admitted call gave up before reaching the backend: a probe's turn passes to the next call. */
  release(admitted: 'call' | 'probe'): void {
    if (admitted === 'probe') this.probing = false;
  }

  success(): void {
    this.consecutive = 0;
    this.probing = false;
    if (this.state !== 'closed') this.move('closed');
  }

  failure(): void {
    this.probing = false;
    this.consecutive++;
    if (this.state === 'half_open' || (this.state === 'closed' && this.consecutive >= this.o.failures)) {
      this.openedAt = this.now();
      this.move('open');
    }
  }

  private move(to: BreakerState): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    this.o.onChange?.(to, from);
  }
}
