/**
 * A synchronous verifier for HS256/384/512 tokens: the connect path's
 * fast path (jose verifies HMAC through WebCrypto, ~0.4 ms a token, which
 * capped connect storms). It accepts exactly what jose would for these
 * algorithms: strict base64url, a pinned algorithm, no `crit` extensions,
 * a constant-time signature compare, and the same claim checks. Public-key
 * algorithms and JWKS stay with jose.
 */
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { JWTPayload } from 'jose';

const HASH: Record<string, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };
/** Three non-empty base64url segments: one test of the whole token (it was a split and a test per part). */
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const TIME_CLAIMS = ['exp', 'nbf', 'iat'] as const;

export interface HmacClaimRules {
  algorithms: readonly string[];
  clockToleranceSec: number;
  requireExp: boolean;
  issuer?: string;
  audience?: string;
}

/** Why a token was refused, in the verifier's terms. */
export class HmacJwtError extends Error {
  constructor(
    readonly reason: 'malformed' | 'invalid' | 'expired' | 'claims',
    message: string,
  ) {
    super(message);
  }
}

function json(segment: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new HmacJwtError('malformed', `token ${what} is not JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HmacJwtError('malformed', `token ${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/**
 * The last header segment seen and what it says (issue 20: every token of an issuer carries the same
 * header, `{"alg":"HS256","typ":"JWT"}`, and decoding and parsing it was a third of the token's
 * checks besides the HMAC). Only the segment's own content decides the entry, so a cached header is
 * judged exactly as a fresh one; one entry, so untrusted tokens cannot grow it.
 */
let lastHeader: { segment: string; alg: unknown; crit: boolean } | undefined;

function headerOf(segment: string): { alg: unknown; crit: boolean } {
  if (lastHeader !== undefined && lastHeader.segment === segment) return lastHeader;
  const header = json(segment, 'header');
  lastHeader = { segment, alg: header.alg, crit: 'crit' in header };
  return lastHeader;
}

export function verifyHmacJwt(token: string, key: KeyObject, rules: HmacClaimRules, nowSec = Math.floor(Date.now() / 1000)): JWTPayload {
  if (!COMPACT.test(token)) throw new HmacJwtError('malformed', 'token malformed');
  const dot1 = token.indexOf('.');
  const dot2 = token.indexOf('.', dot1 + 1);
  const header = headerOf(token.slice(0, dot1));
  const alg = header.alg;
  // The algorithm is pinned by configuration; the header may only name one of those.
  if (typeof alg !== 'string' || !rules.algorithms.includes(alg) || !HASH[alg]) throw new HmacJwtError('invalid', 'token algorithm not allowed');
  if (header.crit) throw new HmacJwtError('invalid', 'token uses unsupported critical header parameters');
  // The signing input is the token up to its second dot: "<header>.<payload>".
  const expected = createHmac(HASH[alg]!, key).update(token.slice(0, dot2)).digest();
  const given = Buffer.from(token.slice(dot2 + 1), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new HmacJwtError('invalid', 'token signature invalid');

  const claims = json(token.slice(dot1 + 1, dot2), 'payload') as JWTPayload;
  const tol = rules.clockToleranceSec;
  for (const name of TIME_CLAIMS) {
    if (claims[name] !== undefined && (typeof claims[name] !== 'number' || !Number.isFinite(claims[name]))) {
      throw new HmacJwtError('claims', `token claim "${name}" must be a number`);
    }
  }
  if (claims.exp === undefined) {
    if (rules.requireExp) throw new HmacJwtError('claims', 'token claim "exp" is required');
  } else if (claims.exp <= nowSec - tol) {
    throw new HmacJwtError('expired', 'token expired');
  }
  if (claims.nbf !== undefined && claims.nbf > nowSec + tol) throw new HmacJwtError('claims', 'token not yet valid (nbf)');
  if (rules.issuer !== undefined && claims.iss !== rules.issuer) throw new HmacJwtError('claims', 'token claim "iss" does not match');
  if (rules.audience !== undefined) {
    const aud = claims.aud;
    const ok = typeof aud === 'string' ? aud === rules.audience : Array.isArray(aud) && aud.includes(rules.audience);
    if (!ok) throw new HmacJwtError('claims', 'token claim "aud" does not match');
  }
  return claims;
}
