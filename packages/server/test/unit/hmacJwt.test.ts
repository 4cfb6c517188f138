/**
 * The synchronous HS* verifier must accept exactly what jose accepts: a
 * differential test over valid, tampered and edge-case tokens.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSecretKey } from 'node:crypto';
import { b64urlJson, signJws } from '@herald/testkit';
import { jwtVerify, SignJWT } from 'jose';
import { verifyHmacJwt, type HmacClaimRules } from '../../src/auth/hmacJwt.js';

const SECRET = 'differential-secret-0123456789';
const key = createSecretKey(Buffer.from(SECRET));
const now = Math.floor(Date.now() / 1000);
const b64 = b64urlJson;
const sign = (h: unknown, p: unknown, alg = 'sha256', secret = SECRET): string => signJws(h, p, secret, alg);

async function joseAccepts(token: string, r: HmacClaimRules): Promise<boolean> {
  try {
    await jwtVerify(token, key, {
      algorithms: [...r.algorithms],
      clockTolerance: r.clockToleranceSec,
      ...(r.requireExp ? { requiredClaims: ['exp'] } : {}),
      ...(r.issuer ? { issuer: r.issuer } : {}),
      ...(r.audience ? { audience: r.audience } : {}),
    });
    return true;
  } catch {
    return false;
  }
}

function fastAccepts(token: string, r: HmacClaimRules): boolean {
  try {
    verifyHmacJwt(token, key, r, now);
    return true;
  } catch {
    return false;
  }
}

test('the HS* fast path agrees with jose on every case', async () => {
  const base: HmacClaimRules = { algorithms: ['HS256'], clockToleranceSec: 5, requireExp: true };
  const strict: HmacClaimRules = { ...base, issuer: 'auth', audience: 'herald' };
  const good = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('a').setExpirationTime(now + 60).sign(key);
  const cases: [string, string, HmacClaimRules][] = [
    ['valid', good, base],
    ['valid, typ JWT', sign({ alg: 'HS256', typ: 'JWT' }, { sub: 'a', exp: now + 60 }), base],
    ['tampered payload', good.replace(/\.[^.]+\./, `.${b64({ sub: 'admin', exp: now + 60 })}.`), base],
    ['tampered signature', good.slice(0, -2) + (good.endsWith('AA') ? 'BB' : 'AA'), base],
    ['wrong secret', sign({ alg: 'HS256' }, { sub: 'a', exp: now + 60 }, 'sha256', 'other-secret-000000000'), base],
    ['HS512 not allowed', sign({ alg: 'HS512' }, { sub: 'a', exp: now + 60 }, 'sha512'), base],
    ['HS512 allowed', sign({ alg: 'HS512' }, { sub: 'a', exp: now + 60 }, 'sha512'), { ...base, algorithms: ['HS256', 'HS512'] }],
    ['alg none', `${b64({ alg: 'none' })}.${b64({ sub: 'a', exp: now + 60 })}.`, base],
    ['alg missing', sign({ typ: 'JWT' }, { sub: 'a', exp: now + 60 }), base],
    ['crit header', sign({ alg: 'HS256', crit: ['x'], x: 1 }, { sub: 'a', exp: now + 60 }), base],
    ['expired', sign({ alg: 'HS256' }, { sub: 'a', exp: now - 60 }), base],
    ['expired within tolerance', sign({ alg: 'HS256' }, { sub: 'a', exp: now - 2 }), base],
    ['no exp, required', sign({ alg: 'HS256' }, { sub: 'a' }), base],
    ['no exp, optional', sign({ alg: 'HS256' }, { sub: 'a' }), { ...base, requireExp: false }],
    ['exp not a number', sign({ alg: 'HS256' }, { sub: 'a', exp: String(now + 60) }), base],
    ['nbf future', sign({ alg: 'HS256' }, { sub: 'a', exp: now + 600, nbf: now + 60 }), base],
    ['nbf within tolerance', sign({ alg: 'HS256' }, { sub: 'a', exp: now + 600, nbf: now + 3 }), base],
    ['iss and aud match', sign({ alg: 'HS256' }, { sub: 'a', exp: now + 60, iss: 'auth', aud: 'herald' }), strict],
    ['aud in array', sign({ alg: 'HS256' }, { sub: 'a', exp: now + 60, iss: 'auth', aud: ['x', 'herald'] }), strict],
    ['wrong iss', sign({ alg: 'HS256' }, { sub: 'a', exp: now + 60, iss: 'evil', aud: 'herald' }), strict],
    ['wrong aud', sign({ alg: 'HS256' }, { sub: 'a', exp: now + 60, iss: 'auth', aud: 'other' }), strict],
    ['missing aud', sign({ alg: 'HS256' }, { sub: 'a', exp: now + 60, iss: 'auth' }), strict],
    ['payload not an object', sign({ alg: 'HS256' }, [1, 2]), base],
    ['payload not JSON', sign({ alg: 'HS256' }, 'nope'), base],
    ['bad base64url', good.replace('.', '.+'), base],
    ['empty signature', good.slice(0, good.lastIndexOf('.') + 1), base],
  ];
  for (const [name, token, rules] of cases) {
    assert.equal(fastAccepts(token, rules), await joseAccepts(token, rules), name);
  }
  // The cases are not all one-sided.
  const accepted = cases.filter(([, t, r]) => fastAccepts(t, r)).length;
  assert.ok(accepted >= 6 && accepted < cases.length - 10, `accepted ${accepted} of ${cases.length}`);
});

test('a header seen before is judged as a fresh one: under each call\'s rules, and a new header replaces it', () => {
  const base: HmacClaimRules = { algorithms: ['HS256'], clockToleranceSec: 5, requireExp: true };
  const hs256 = sign({ alg: 'HS256', typ: 'JWT' }, { sub: 'a', exp: now + 60 });
  const alsoHs256 = sign({ alg: 'HS256', typ: 'JWT' }, { sub: 'b', exp: now + 60 });
  assert.equal(verifyHmacJwt(hs256, key, base, now).sub, 'a');
  // The same header segment, now under rules that do not allow its algorithm.
  assert.throws(() => verifyHmacJwt(alsoHs256, key, { ...base, algorithms: ['HS512'] }, now), /token algorithm not allowed/);
  // The same header, a payload tampered with: the signature still decides.
  const tampered = alsoHs256.replace(/\.[^.]+\./, `.${b64({ sub: 'admin', exp: now + 60 })}.`);
  assert.throws(() => verifyHmacJwt(tampered, key, base, now), /token signature invalid/);
  // A crit header after the cached one, then the cached one's segment again.
  assert.throws(() => verifyHmacJwt(sign({ alg: 'HS256', crit: ['x'], x: 1 }, { sub: 'a', exp: now + 60 }), key, base, now), /critical header/);
  assert.equal(verifyHmacJwt(alsoHs256, key, base, now).sub, 'b');
  // A header that is not JSON, twice in a row (not cached as anything).
  const notJson = `${Buffer.from('{alg').toString('base64url')}.${b64({ sub: 'a', exp: now + 60 })}.AAAA`;
  for (let i = 0; i < 2; i++) assert.throws(() => verifyHmacJwt(notJson, key, base, now), /token header is not JSON/);
  assert.equal(verifyHmacJwt(hs256, key, base, now).sub, 'a');
});
