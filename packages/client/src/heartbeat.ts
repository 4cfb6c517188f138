/**
 * Client-side liveness. A half-open TCP connection (Wi-Fi gone, laptop lid
 * closed, NAT entry expired) raises no close event for minutes, so the client
 * pings every heartbeat_ms/2 and declares the socket dead when nothing at all
 * has arrived for the timeout (default 2 × heartbeat_ms).
 *
 * One interval per connection checks a timestamp instead of re-arming a timer
 * on every frame: at high message rates that would churn timers for nothing.
 */
export class Heartbeat {
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastSeen = 0;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /**
   * Starts pinging. `ping` sends one ping frame; `dead` is called once when
   * nothing arrived for `timeoutMs`.
   */
  start(intervalMs: number, timeoutMs: number, ping: () => void, dead: () => void): void {
    this.stop();
    this.#lastSeen = this.#now();
    // Check often enough that detection lands within a fraction of the timeout.
    const tick = Math.max(10, Math.min(intervalMs, Math.floor(timeoutMs / 4)));
    let sinceLastPing = 0;
    this.#timer = setInterval(() => {
      if (this.#now() - this.#lastSeen > timeoutMs) {
        this.stop();
        dead();
        return;
      }
      sinceLastPing += tick;
      if (sinceLastPing >= intervalMs) {
        sinceLastPing = 0;
        ping();
      }
    }, tick);
    // Do not keep a Node process alive just for pings.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Anything arrived from the server. */
  touch(): void {
    this.#lastSeen = this.#now();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
