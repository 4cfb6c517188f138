/**
 * Full-jitter exponential backoff: the delay is uniform in [0, cap) where
 * cap = min(maxDelayMs, minDelayMs × 2^attempt). Uniform jitter over the whole
 * window spreads a thundering herd (every client of a restarted node
 * reconnecting at once) better than "equal" or "decorrelated" jitter.
 */

export interface BackoffOptions {
  /** Window of the first retry, in milliseconds. */
  minDelayMs: number;
  /** Largest window, in milliseconds. */
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { minDelayMs: 500, maxDelayMs: 20_000 };

/**
 * Delay before retry number `attempt` (0 for the first retry).
 * `random` is injectable so tests can pin it.
 */
export function fullJitterDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  // Cap the exponent so 2 ** attempt never overflows to Infinity on long outages.
  const exp = Math.min(Math.max(attempt, 0), 30);
  const cap = Math.min(options.maxDelayMs, options.minDelayMs * 2 ** exp);
  return Math.floor(random() * cap);
}
