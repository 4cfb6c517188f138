/**
 * HS256 JWTs minted with node:crypto. The bench signs up to tens of thousands
 * of tokens per run inside client processes, so it uses synchronous HMAC
 * rather than jose's async API; the output is a standard compact JWS.
 * The bench servers (raw ws, Socket.IO) verify with the same helper so that
 * every target pays for authentication.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface BenchClaims {
  sub: string;
  tid?: string;
  exp: number;
  [k: string]: unknown;
}

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

export function signHs256(claims: BenchClaims, secret: string): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const input = `${HEADER}.${payload}`;
  const sig = createHmac('sha256', secret).update(input).digest('base64url');
  return `${input}.${sig}`;
}

/** Returns the claims when the signature is valid and the token unexpired, else null. */
export function verifyHs256(token: string, secret: string, nowSec = Math.floor(Date.now() / 1000)): BenchClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [h, p, s] = parts as [string, string, string];
  const expected = createHmac('sha256', secret).update(`${h}.${p}`).digest();
  const got = Buffer.from(s, 'base64url');
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) return null;
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: unknown };
    if (header.alg !== 'HS256') return null;
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Partial<BenchClaims>;
    if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number' || claims.exp <= nowSec) return null;
    return claims as BenchClaims;
  } catch {
    return null;
  }
}
