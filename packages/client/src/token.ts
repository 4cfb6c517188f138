/**
 * Token handling. The SDK reads (never verifies) the JWT payload for two
 * things: `sub`/`tid` to key the stored last seq per user (so a second user on
 * the same browser does not resume from the first user's position), and `exp`
 * to fetch a fresh token before connecting with one that has already expired.
 */

export type TokenSource = string | (() => string | Promise<string>);

export interface TokenClaims {
  sub?: string;
  tid?: string;
  did?: string;
  exp?: number;
}

export function decodeClaims(token: string): TokenClaims | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
    const binary = atob(padded);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof claims !== 'object' || claims === null) return null;
    const c = claims as Record<string, unknown>;
    return {
      sub: typeof c.sub === 'string' ? c.sub : undefined,
      tid: typeof c.tid === 'string' ? c.tid : undefined,
      did: typeof c.did === 'string' ? c.did : undefined,
      exp: typeof c.exp === 'number' ? c.exp : undefined,
    };
  } catch {
    return null;
  }
}

/** True when the token carries an `exp` that is already past (with `skewS` seconds of margin). */
export function isExpired(claims: TokenClaims | null, nowMs: number, skewS = 5): boolean {
  return claims?.exp !== undefined && claims.exp * 1000 <= nowMs + skewS * 1000;
}
