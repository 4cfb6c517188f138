/**
 * HS256 JWTs minted with node:crypto, synchronously: the bench signs tens of
 * thousands of tokens per run inside its client processes, the stress suite
 * mints expired and `alg: none` tokens on purpose, and tests forge headers the
 * product's own minting (jose) refuses to write. The output is a standard
 * compact JWS.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** base64url of a string as is, or of any other value as JSON. */
export function b64urlJson(v: unknown): string {
  return Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
}

/** `header.payload.signature`, HMAC with `hash` (sha256 for HS256, sha512 for HS512); header and payload are not checked. */
export function signJws(header: unknown, payload: unknown, secret: string, hash = 'sha256'): string {
  const input = `${b64urlJson(header)}.${b64urlJson(payload)}`;
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
}

export interface Hs256Claims {
  sub: string;
  tid?: string;
  exp: number;
  [k: string]: unknown;
}

// Encoded once: the bench signs a token per connection on its hot path.
const HS256_HEADER = b64urlJson({ alg: 'HS256', typ: 'JWT' });

export function signHs256(claims: Hs256Claims, secret: string): string {
  const input = `${HS256_HEADER}.${b64urlJson(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** Returns the claims when the signature is valid, the header says HS256 and the token is unexpired; else null. */
export function verifyHs256(token: string, secret: string, nowSec = Math.floor(Date.now() / 1000)): Hs256Claims | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [h, p, s] = parts as [string, string, string];
  const expected = createHmac('sha256', secret).update(`${h}.${p}`).digest();
  const got = Buffer.from(s, 'base64url');
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) return null;
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: unknown };
    if (header.alg !== 'HS256') return null;
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Partial<Hs256Claims>;
    if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number' || claims.exp <= nowSec) return null;
    return claims as Hs256Claims;
  } catch {
    return null;
  }
}

export interface DeviceTokenClaims {
  sub: string;
  tid?: string;
  did?: string;
  rooms?: string[];
  /** Lifetime in seconds from now (may be negative: an expired token). */
  ttlSec: number;
}

/** A device token as the server expects it (iat, exp, optional tid/did/rooms); `alg: 'none'` gives an unsigned one. */
export function mintToken(secret: string, c: DeviceTokenClaims, alg: 'HS256' | 'none' = 'HS256'): string {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { sub: c.sub, iat: now, exp: now + c.ttlSec };
  if (c.tid !== undefined) payload.tid = c.tid;
  if (c.did !== undefined) payload.did = c.did;
  if (c.rooms !== undefined) payload.rooms = c.rooms;
  const header = { alg, typ: 'JWT' };
  if (alg === 'none') return `${b64urlJson(header)}.${b64urlJson(payload)}.`;
  return signJws(header, payload, secret);
}
