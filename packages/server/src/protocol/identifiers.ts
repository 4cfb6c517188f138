/**
 * Identifiers (tenant, user, device, room, event, idempotency key) must be
 * well-formed UTF-16: no lone surrogates.
 *
 * Why: a lone surrogate has no UTF-8 encoding. Redis clients (ioredis, like
 * Buffer.from) encode it as U+FFFD, so `acme\ud800` and `acme\ufffd` name the
 * same Redis key — a tenant could read another tenant's inbox. Refusing
 * ill-formed ids at every boundary (JWT, HTTP API, frames, ingest) keeps the
 * mapping from identifier to key bytes one-to-one.
 */

// Node 20 has String.prototype.isWellFormed; the regex is the same test for older runtimes.
const nativeIsWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;
/** With the `u` flag a surrogate class matches only surrogates that are not part of a pair. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** True when `s` has no lone surrogate (it round-trips through UTF-8 unchanged). */
export function isWellFormedId(s: string): boolean {
  return nativeIsWellFormed ? nativeIsWellFormed.call(s) : !LONE_SURROGATE.test(s);
}

/** The message every boundary uses for an ill-formed identifier. */
export const ILL_FORMED = 'must be well-formed UTF-16 (no lone surrogates)';
