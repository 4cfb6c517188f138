/**
 * The signature of every outbound call, webhooks and hooks alike (DESIGN.md §7,
 * FIXED): header `Herald-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
 * "<t>.<raw body>")>`. A receiver recomputes the HMAC over the raw body it got
 * and rejects a `t` too far from its clock (replays).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'herald-signature';

/** The header value for `body`, signed at `nowSec` (unix seconds). */
export function signBody(secret: string, body: string, nowSec = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac('sha256', secret).update(`${nowSec}.${body}`).digest('hex');
  return `t=${nowSec},v1=${mac}`;
}

export interface VerifyOptions {
  /** Largest accepted distance between `t` and now, seconds (default 300). */
  toleranceSec?: number;
  nowSec?: number;
}

/** True when `header` is a valid signature of `body` with `secret`, within the tolerance. */
export function verifySignature(body: string | Uint8Array, header: string | undefined, secret: string, o: VerifyOptions = {}): boolean {
  if (typeof header !== 'string') return false;
  let t: number | undefined;
  const macs: string[] = [];
  for (const part of header.split(',')) {
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
  const raw = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  const expected = createHmac('sha256', secret).update(`${t}.${raw}`).digest();
  return macs.some((m) => timingSafeEqual(Buffer.from(m, 'hex'), expected));
}
