/** API-key check for the HTTP API: constant time, whatever the input length. */
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

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
