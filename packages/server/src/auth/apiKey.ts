/** API-key check for the HTTP API: constant time, whatever the input length. */
import * as crypto from 'node:crypto';
import { createHash, timingSafeEqual } from 'node:crypto';

export class ApiKeyGuard {
  private readonly digest: Buffer;

  constructor(apiKey: string) {
    this.digest = sha256(apiKey);
  }

  /** Checks an `Authorization: Bearer <key>` header value. */
  check(header: string | undefined): boolean {
    if (!header || !header.startsWith('Bearer ')) return false;
    // Comparing fixed-length digests keeps the compare constant-time even when lengths differ.
    return timingSafeEqual(sha256(header.slice(7).trim()), this.digest);
  }
}

// One-shot crypto.hash (Node ≥ 20.12) skips the Hash object createHash builds on every API
// request; the digest is the same. Older Node 20 releases lack it.
const oneShot = typeof crypto.hash === 'function' ? crypto.hash : undefined;

function sha256(s: string): Buffer {
  return oneShot ? oneShot('sha256', s, 'buffer') : createHash('sha256').update(s, 'utf8').digest();
}
