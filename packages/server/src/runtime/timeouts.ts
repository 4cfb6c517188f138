/**
 * Time bounds shared by every outbound client (brokers, databases, Redis): a promise that must
 * settle within a deadline, and a pause that a stop can cut short.
 */

/**
 * Settles as `p` does, or rejects with `<what> timed out after <ms> ms` if `p` has not settled
 * by then. The timer is unref'd (it never holds the process open) and cleared either way; `p`
 * itself is not cancelled: callers drop the connection behind it when that matters.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    t.unref();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e as Error);
      },
    );
  });
}

/** A pause of `ms` that `wake()` ends early (idempotent; a wake after the end does nothing). */
export interface WakeablePause {
  readonly done: Promise<void>;
  wake(): void;
}

/** Starts a pause: sources wait on `done` between polls and call `wake()` from stop() or a notification. */
export function wakeablePause(ms: number): WakeablePause {
  let wake!: () => void;
  const done = new Promise<void>((resolve) => {
    const t = setTimeout(end, ms);
    function end(): void {
      clearTimeout(t);
      resolve();
    }
    wake = end;
  });
  return { done, wake };
}
