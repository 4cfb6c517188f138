/**
 * Throttles guessing of the API key: failed checks (HTTP API bearer, admin
 * login, admin feed) are counted per client address in a token bucket. While
 * an address has no budget left every check from it is refused with 429,
 * correct key or not, so the answer carries no signal a guesser could use.
 * A correct key from another address is unaffected.
 */
import type { IncomingMessage } from 'node:http';
import { ApiError } from '../errors.js';
import { clientAddress } from '../limits/clientAddress.js';
import { KeyedBuckets } from '../limits/tokenBucket.js';
import type { Stats } from '../observability/stats.js';

/** Where a key was checked: the `reason` label of herald_auth_failures_total. */
export type AuthSurface = 'api_key' | 'admin_login' | 'admin_api';

/** The herald_limit_rejections_total{limit} label of a throttled check. */
export const AUTH_THROTTLE_LIMIT = 'auth_failures_per_ip';

export interface AuthThrottleSettings {
  authFailuresPerIpPerMin: number;
  authFailureBurstPerIp: number;
  trustedProxies: readonly string[];
}

export class AuthThrottle {
  private readonly buckets: KeyedBuckets;
  private readonly proxies: ReadonlySet<string>;

  constructor(
    s: AuthThrottleSettings,
    private readonly stats: Stats,
  ) {
    this.buckets = new KeyedBuckets({ ratePerSec: s.authFailuresPerIpPerMin / 60, burst: s.authFailureBurstPerIp });
    this.proxies = new Set(s.trustedProxies);
  }

  /** The address failures are counted against (X-Forwarded-For only from trusted proxies). */
  address(req: IncomingMessage): string {
    return clientAddress(req, this.proxies);
  }

  /** Throws 429 rate_limited (with Retry-After) when `req`'s address has used up its failures. */
  admit(req: IncomingMessage): void {
    // No address has failed lately (the usual case, checked on every authenticated request): no
    // bucket to read, so the address is not worked out (peek() would answer 0 for any).
    if (this.buckets.size === 0) return;
    const waitMs = this.buckets.peek(this.address(req));
    if (waitMs <= 0) return;
    this.stats.limitRejected(AUTH_THROTTLE_LIMIT);
    const err = new ApiError('rate_limited', `too many failed authentications from this address; retry in ${Math.ceil(waitMs / 1000)} s`);
    err.retryAfterSec = Math.max(1, Math.ceil(waitMs / 1000));
    throw err;
  }

  /** Records a failed check from `req`'s address. */
  failed(req: IncomingMessage, surface: AuthSurface): void {
    this.stats.bump(this.stats.authFailures, surface);
    this.buckets.take(this.address(req));
  }
}
