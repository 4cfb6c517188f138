/** Mints HS256 device tokens: `herald token`, dev mode and tests. */
import { SignJWT } from 'jose';
import { createSecretKey } from 'node:crypto';

export interface MintOptions {
  secret: string;
  sub: string;
  tenant?: string;
  device?: string;
  rooms?: string[];
  /** Lifetime in seconds (default one hour). */
  ttlSec?: number;
  issuer?: string;
  audience?: string;
}

export async function mintToken(o: MintOptions): Promise<string> {
  const claims: Record<string, unknown> = {};
  if (o.tenant) claims.tid = o.tenant;
  if (o.device) claims.did = o.device;
  if (o.rooms) claims.rooms = o.rooms;
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(o.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (o.ttlSec ?? 3600));
  if (o.issuer) jwt = jwt.setIssuer(o.issuer);
  if (o.audience) jwt = jwt.setAudience(o.audience);
  return jwt.sign(createSecretKey(Buffer.from(o.secret, 'utf8')));
}

/** Parses durations like 90, 90s, 15m, 1h, 7d into seconds. */
export function parseDurationSec(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) throw new Error(`invalid duration "${text}" (use e.g. 30s, 15m, 1h, 7d)`);
  const n = Number(m[1]);
  const unit = m[2] || 's';
  const sec = n * ({ s: 1, m: 60, h: 3600, d: 86_400 } as Record<string, number>)[unit]!;
  if (sec <= 0) throw new Error(`duration "${text}" must be positive`);
  return sec;
}
