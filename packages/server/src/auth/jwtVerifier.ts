/**
 * Verifies device tokens with jose. Algorithms come from configuration only
 * (never from the token header), so `alg: none` and key-confusion tricks
 * fail. Claims: sub (required), tid, exp (required unless configured off),
 * nbf, did, rooms, iss/aud when configured.
 */
import type { TokenFailureReason } from '../observability/labels.js';
import { readFileSync, existsSync } from 'node:fs';
import { createSecretKey, type KeyObject, type webcrypto } from 'node:crypto';
import { jwtVerify, importSPKI, createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { HeraldConfig } from '../config/schema.js';
import { DEFAULT_TENANT } from '@herald/protocol';
import { ILL_FORMED, isWellFormedId } from '../protocol/identifiers.js';
import { verifyHmacJwt, HmacJwtError, type HmacClaimRules } from './hmacJwt.js';

export interface Identity {
  user: string;
  tenant: string;
  device?: string;
  /** Room allow-list: exact names, or prefixes ending in `*`. Undefined: any room. */
  rooms?: string[];
  /** Token expiry, ms since the epoch (undefined when the token has none). */
  expiresAt?: number;
}

export class AuthError extends Error {
  constructor(
    readonly reason: TokenFailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

const ID_PATTERN = /^\P{Cc}{1,128}$/u;

export class JwtVerifier {
  private key: KeyObject | webcrypto.CryptoKey | Uint8Array | JWTVerifyGetKey | undefined;
  private readonly algorithms: string[];
  /** Set for HS* algorithms: verified synchronously, without jose's WebCrypto round trip. */
  private hmacKey: KeyObject | undefined;
  private readonly rules: HmacClaimRules;

  constructor(private readonly config: HeraldConfig & { jwtSecret: string }) {
    this.algorithms = config.jwtAlgorithms;
    this.rules = {
      algorithms: config.jwtAlgorithms,
      clockToleranceSec: config.jwtClockToleranceSec,
      requireExp: config.jwtRequireExp,
      ...(config.jwtIssuer ? { issuer: config.jwtIssuer } : {}),
      ...(config.jwtAudience ? { audience: config.jwtAudience } : {}),
    };
  }

  /** Resolves verification key material once, at start-up. */
  async init(): Promise<void> {
    const c = this.config;
    const hmac = this.algorithms.every((a) => a.startsWith('HS'));
    const asym = this.algorithms.every((a) => !a.startsWith('HS'));
    if (!hmac && !asym) throw new Error('jwtAlgorithms must not mix HS* with public-key algorithms');
    if (hmac) {
      this.key = this.hmacKey = createSecretKey(Buffer.from(c.jwtSecret, 'utf8'));
    } else if (c.jwksUrl) {
      this.key = createRemoteJWKSet(new URL(c.jwksUrl));
    } else if (c.jwtPublicKey) {
      const pem = existsSync(c.jwtPublicKey) ? readFileSync(c.jwtPublicKey, 'utf8') : c.jwtPublicKey;
      this.key = await importSPKI(pem, this.algorithms[0]!);
    } else {
      throw new Error('public-key jwtAlgorithms need jwtPublicKey or jwksUrl');
    }
  }

  async verify(token: string | undefined | null): Promise<Identity> {
    if (!token) throw new AuthError('missing', 'token missing');
    if (token.length > 8192 || !hasThreeParts(token)) throw new AuthError('malformed', 'token malformed');
    if (this.hmacKey) {
      // Fast path: HMAC tokens are checked synchronously (see hmacJwt.ts).
      try {
        return toIdentity(verifyHmacJwt(token, this.hmacKey, this.rules));
      } catch (err) {
        if (err instanceof HmacJwtError) throw new AuthError(err.reason, err.message);
        throw err;
      }
    }
    let payload: JWTPayload;
    try {
      const key = this.key;
      if (!key) throw new Error('verifier not initialised');
      const opts = {
        algorithms: this.algorithms,
        clockTolerance: this.config.jwtClockToleranceSec,
        ...(this.config.jwtIssuer ? { issuer: this.config.jwtIssuer } : {}),
        ...(this.config.jwtAudience ? { audience: this.config.jwtAudience } : {}),
        ...(this.config.jwtRequireExp ? { requiredClaims: ['exp'] } : {}),
      };
      const result = typeof key === 'function' ? await jwtVerify(token, key, opts) : await jwtVerify(token, key, opts);
      payload = result.payload;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_JWT_EXPIRED') throw new AuthError('expired', 'token expired');
      if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') throw new AuthError('claims', `token claim check failed: ${(err as Error).message}`);
      if (code === 'ERR_JWS_INVALID' || code === 'ERR_JWT_INVALID') throw new AuthError('malformed', 'token malformed');
      throw new AuthError('invalid', 'token signature or algorithm invalid');
    }
    return toIdentity(payload);
  }
}

/** Exactly two dots, as `token.split('.').length === 3`, without the array. */
function hasThreeParts(token: string): boolean {
  const a = token.indexOf('.');
  if (a < 0) return false;
  const b = token.indexOf('.', a + 1);
  return b >= 0 && token.indexOf('.', b + 1) < 0;
}

function toIdentity(p: JWTPayload): Identity {
  if (typeof p.sub !== 'string' || !ID_PATTERN.test(p.sub)) throw new AuthError('claims', 'token claim "sub" missing or invalid');
  // Lone surrogates would alias another id in Redis keys (protocol/identifiers.ts).
  if (!isWellFormedId(p.sub)) throw new AuthError('claims', `token claim "sub" ${ILL_FORMED}`);
  const tid = p.tid ?? DEFAULT_TENANT;
  if (typeof tid !== 'string' || !ID_PATTERN.test(tid)) throw new AuthError('claims', 'token claim "tid" invalid');
  if (!isWellFormedId(tid)) throw new AuthError('claims', `token claim "tid" ${ILL_FORMED}`);
  const identity: Identity = { user: p.sub, tenant: tid };
  if (p.did !== undefined) {
    if (typeof p.did !== 'string') throw new AuthError('claims', 'token claim "did" invalid');
    if (!isWellFormedId(p.did)) throw new AuthError('claims', `token claim "did" ${ILL_FORMED}`);
    identity.device = p.did;
  }
  if (p.rooms !== undefined) {
    if (!Array.isArray(p.rooms) || !p.rooms.every((r) => typeof r === 'string')) throw new AuthError('claims', 'token claim "rooms" must be an array of strings');
    if (!p.rooms.every((r: string) => isWellFormedId(r))) throw new AuthError('claims', `token claim "rooms" ${ILL_FORMED}`);
    identity.rooms = p.rooms as string[];
  }
  if (typeof p.exp === 'number') identity.expiresAt = p.exp * 1000;
  return identity;
}

/** True when `room` is allowed by a `rooms` claim (exact names or `prefix*`). */
export function roomAllowed(allow: string[] | undefined, room: string): boolean {
  if (!allow) return true;
  for (const pattern of allow) {
    if (pattern.endsWith('*') ? room.startsWith(pattern.slice(0, -1)) : room === pattern) return true;
  }
  return false;
}
