/** Deterministic waits: bounded polling of a condition, never a bare sleep as synchronisation. */
import { waitFor as kitWaitFor, WaitTimeout } from '@herald/testkit';

export { delay, WaitTimeout } from '@herald/testkit';

/**
 * The kit's bounded poll, with the stress suite's pace (every 50 ms by default:
 * many checks here are HTTP round trips to the nodes under load).
 */
export function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs: number, everyMs = 50): Promise<NonNullable<T>> {
  return kitWaitFor(what, check, timeoutMs, everyMs);
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
