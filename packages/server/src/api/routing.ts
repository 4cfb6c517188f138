/** Request routing helpers of the HTTP API (router.ts): literal paths, metric keys, the publish reply. */
import { ApiError } from '../errors.js';
import type { PublishResult } from '../delivery/publisher.js';
import { jsonString } from '../protocol/serverFrames.js';

/** The path a pattern like `^\/api\/v1\/publish$` matches, when it matches only that one plain path. */
export function literalPath(pattern: RegExp): string | undefined {
  const s = pattern.source;
  if (!s.startsWith('^') || !s.endsWith('$')) return undefined;
  const path = s.slice(1, -1).replaceAll('\\/', '/');
  return PLAIN_PATH.test(path) ? path : undefined;
}

/**
 * The common request target — a plain path of [A-Za-z0-9_-/], no query — is used as is, without
 * building a URL: `new URL()` would return it unchanged (no dot segments, nothing to
 * percent-encode), so the routes see the same pathname and an empty query. Anything else goes
 * through parseTarget.
 */
export const PLAIN_PATH = /^\/(?!\/)[A-Za-z0-9_/-]*$/;

/** `herald_http_requests_total` keys (`route|status`), built once per pair rather than per request. */
const HTTP_KEYS = new Map<string, Map<number, string>>();
export function httpKey(route: string, status: number): string {
  let byStatus = HTTP_KEYS.get(route);
  if (!byStatus) HTTP_KEYS.set(route, (byStatus = new Map()));
  let k = byStatus.get(status);
  if (k === undefined) byStatus.set(status, (k = `${route}|${status}`));
  return k;
}

/**
 * `JSON.stringify(result)` of a publish, written directly in the same key order: the common
 * `{id, online}` (an ephemeral publish) and `{id, seq, online}` (a reliable one). A reliable
 * result's `seq` is the `Object.create(null)` dictionary the publisher built after `id` and before
 * `online` — JSON.stringify's slow path for such an object costs ≈ 2,000 instructions more per
 * reliable publish (docs/benchmarks.md, "Reliable ack path"). Its users are taken with `for…in`,
 * which for a null-prototype object is the order JSON.stringify uses (integer-like keys first,
 * then insertion order). Anything else — room offsets, an odd count, a `seq` read back from an
 * idempotency record (a plain object) — goes through JSON.stringify.
 */
export function publishReply(result: PublishResult): string {
  const { online, seq } = result;
  if (result.offset !== undefined || result.epoch !== undefined || (online !== undefined && !Number.isSafeInteger(online))) return JSON.stringify(result);
  let s = '{"id":' + jsonString(result.id);
  if (seq !== undefined) {
    if (Object.getPrototypeOf(seq) !== null) return JSON.stringify(result);
    let users = '';
    for (const user in seq) {
      const n = seq[user]!;
      if (!Number.isSafeInteger(n)) return JSON.stringify(result);
      users += (users === '' ? '' : ',') + jsonString(user) + ':' + n;
    }
    s += ',"seq":{' + users + '}';
  }
  return online === undefined ? s + '}' : s + ',"online":' + online + '}';
}

/** The request target as a URL; 400 when it is none (e.g. `//[`). */
export function parseTarget(target: string | undefined): URL {
  try {
    return new URL(target ?? '/', 'http://localhost');
  } catch {
    throw new ApiError('invalid_field', 'the request target is not a valid URL path', 'path');
  }
}
