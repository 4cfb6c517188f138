/**
 * Admin dashboard sessions without server state.
 *
 * A browser cannot send `Authorization: Bearer` when it navigates, so the
 * dashboard takes the API key once in a login form and answers with an
 * HttpOnly, SameSite=Strict cookie. The cookie holds no key: it is
 * `v1.<expiry seconds>.<mac>`, where mac = HMAC-SHA256(sessionKey, "v1.<expiry>")
 * and sessionKey = HMAC-SHA256(apiKey, "herald-admin-session"). So:
 *   - a session is valid on every node sharing the API key (no sticky routing);
 *   - rotating the API key ends every session;
 *   - the cookie cannot be turned back into the key, nor forged without it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'herald_admin';

export class AdminSessions {
  private readonly key: Buffer;

  constructor(
    apiKey: string,
    readonly ttlSec: number,
  ) {
    this.key = createHmac('sha256', apiKey).update('herald-admin-session').digest();
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }

  /** A fresh session value valid for ttlSec. */
  issue(nowMs = Date.now()): string {
    const payload = `v1.${Math.floor(nowMs / 1000) + this.ttlSec}`;
    return `${payload}.${this.mac(payload)}`;
  }

  /** True for an unexpired value this key issued. Constant-time on the mac. */
  verify(value: string | undefined, nowMs = Date.now()): boolean {
    if (value === undefined) return false;
    const m = /^(v1\.(\d{1,12}))\.([A-Za-z0-9_-]{43})$/.exec(value);
    if (!m) return false;
    if (Number(m[2]) * 1000 <= nowMs) return false;
    const want = Buffer.from(this.mac(m[1]!));
    const got = Buffer.from(m[3]!);
    return got.length === want.length && timingSafeEqual(got, want);
  }

  /** The Set-Cookie header for a new session. `secure` when the page is served over HTTPS. */
  cookie(value: string, secure: boolean): string {
    return `${SESSION_COOKIE}=${value}; Path=/admin; Max-Age=${this.ttlSec}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
  }

  /** The Set-Cookie header that ends the session in this browser. */
  static clearCookie(secure: boolean): string {
    return `${SESSION_COOKIE}=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
  }
}

/** The value of one cookie from a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
