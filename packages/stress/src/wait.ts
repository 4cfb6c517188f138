/** Deterministic waits: bounded polling of a condition, never a bare sleep as synchronisation. */

export class WaitTimeout extends Error {}

/** Polls `check` until it returns a truthy value; throws WaitTimeout naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs: number, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  const maxRounds = Math.ceil(timeoutMs / everyMs) + 2;
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
  throw new WaitTimeout(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}`);
}

/** A duration during which a scenario lets faults or load happen (not a synchronisation point). */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Rejects after `ms` naming `what`. */
export async function withTimeout<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new WaitTimeout(`${what}: no result within ${ms} ms`)), ms)))]);
  } finally {
    if (t) clearTimeout(t);
  }
}
