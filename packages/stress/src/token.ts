/** HS256 device tokens signed with node:crypto (the server verifies them with its jwtSecret). */
import { createHmac } from 'node:crypto';

export interface TokenClaims {
  sub: string;
  tid?: string;
  did?: string;
  rooms?: string[];
  /** Lifetime in seconds from now (may be negative: an expired token). */
  ttlSec: number;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export function mintToken(secret: string, c: TokenClaims, alg: 'HS256' | 'none' = 'HS256'): string {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { sub: c.sub, iat: now, exp: now + c.ttlSec };
  if (c.tid !== undefined) payload.tid = c.tid;
  if (c.did !== undefined) payload.did = c.did;
  if (c.rooms !== undefined) payload.rooms = c.rooms;
  const head = b64url(JSON.stringify({ alg, typ: 'JWT' }));
  const body = b64url(JSON.stringify(payload));
  if (alg === 'none') return `${head}.${body}.`;
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64url(sig)}`;
}
