/**
 * When to retry and how long to wait: 5xx (but 507, which a retry does not
 * fix), 429 and failures without an answer are retried with full-jitter
 * exponential backoff; a `Retry-After` (seconds or an HTTP date) overrides
 * the backoff, capped by `maxRetryAfterMs`.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included (default 5). */
  attempts: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** The longest Retry-After honoured, ms (default 60 000). */
  maxRetryAfterMs: number;
  random: () => number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, minDelayMs: 100, maxDelayMs: 5000, maxRetryAfterMs: 60_000, random: Math.random };

export function retryable(status: number): boolean {
  return status === 0 || status === 429 || (status >= 500 && status !== 507 && status !== 501);
}

/** Wait before attempt `attempt + 1` (attempt counts from 1). */
export function delayMs(p: RetryPolicy, attempt: number, retryAfter: string | null, now = Date.now()): number {
  const after = parseRetryAfter(retryAfter, now);
  if (after !== undefined) return Math.min(after, p.maxRetryAfterMs);
  const cap = Math.min(p.maxDelayMs, p.minDelayMs * 2 ** (attempt - 1));
  return Math.max(p.minDelayMs, Math.floor(p.random() * cap));
}

export function parseRetryAfter(v: string | null, now = Date.now()): number | undefined {
  if (v === null || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
