/**
 * Herald's signature on webhooks and hook calls (DESIGN.md §7):
 * `Herald-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
 * Verify over the raw body exactly as received (before any JSON parsing), and
 * refuse a `t` far from your clock (replays). The same algorithm as the
 * server's outbound/signature.ts; a test checks that the two agree.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header's name (HTTP headers are case-insensitive; Node lower-cases them). */
export const SIGNATURE_HEADER = 'herald-signature';

export interface VerifyOptions {
  /** Largest accepted distance between `t` and now, seconds (default 300). */
  toleranceSec?: number;
  /** Now, unix seconds (for tests). */
  nowSec?: number;
}

/** True when `header` is a valid signature of `rawBody` with `secret`, within the tolerance. */
export function verifySignature(rawBody: string | Uint8Array, header: string | string[] | undefined | null, secret: string, o: VerifyOptions = {}): boolean {
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value !== 'string' || typeof secret !== 'string' || secret === '') return false;
  let t: number | undefined;
  const macs: string[] = [];
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === 't' && /^\d{1,12}$/.test(v)) t = Number(v);
    else if (k === 'v1' && /^[0-9a-f]{64}$/.test(v)) macs.push(v);
  }
  if (t === undefined || macs.length === 0) return false;
  const now = o.nowSec ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (o.toleranceSec ?? 300)) return false;
  const mac = createHmac('sha256', secret).update(`${t}.`);
  mac.update(typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody);
  const expected = mac.digest();
  return macs.some((m) => timingSafeEqual(Buffer.from(m, 'hex'), expected));
}

/** Signs `rawBody` as Herald does (for tests of your receiver). */
export function signBody(secret: string, rawBody: string, nowSec = Math.floor(Date.now() / 1000)): string {
  return `t=${nowSec},v1=${createHmac('sha256', secret).update(`${nowSec}.${rawBody}`).digest('hex')}`;
}
