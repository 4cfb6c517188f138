/** Deterministic waits: bounded polling of a condition, never a bare sleep as synchronisation. */

export class WaitTimeout extends Error {}

/**
 * Polls `check` (sync or async) until it returns a truthy value; throws
 * WaitTimeout naming `what` (and the last error `check` threw) after `timeoutMs`.
 * The round count is bounded too, so a stalled clock cannot make it spin forever.
 */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  const maxRounds = Math.ceil(timeoutMs / everyMs) + 2;
  let lastErr: unknown;
  for (let round = 0; round < maxRounds; round++) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() >= deadline) break;
    await delay(everyMs);
  }
  throw new WaitTimeout(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
}

/** Resolves with the first value of a synchronous `check` other than undefined or false; rejects after `ms`. */
export async function waitUntil<T>(check: () => T | undefined, ms = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new WaitTimeout(`timed out after ${ms} ms waiting for ${what}`);
    await delay(5);
  }
}

/** A duration during which a caller lets faults or load happen (not a synchronisation point). */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
