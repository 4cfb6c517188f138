/** The SDK's signature helper and the server's signer/verifier agree, both ways, and refuse what they must. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signBody as serverSign, verifySignature as serverVerify } from '../../server/src/outbound/signature.js';
import { signBody, verifySignature } from '../src/index.js';

const secret = 'whsec-0123456789';
const body = '{"events":[{"id":"e1","type":"connect","ts":1,"user":"ü"}]}';

test('a body signed by the server verifies with the SDK, and the other way round', () => {
  const now = Math.floor(Date.now() / 1000);
  assert.equal(verifySignature(body, serverSign(secret, body, now), secret), true);
  assert.equal(verifySignature(Buffer.from(body), serverSign(secret, body, now), secret), true, 'raw bytes');
  assert.equal(serverVerify(body, signBody(secret, body, now), secret), true);
  assert.equal(signBody(secret, body, 1700000000), serverSign(secret, body, 1700000000), 'the same header for the same input');
});

test('refuses a wrong secret, a changed body, a stale timestamp, and malformed headers', () => {
  const now = Math.floor(Date.now() / 1000);
  const h = serverSign(secret, body, now);
  assert.equal(verifySignature(body, h, 'other'), false);
  assert.equal(verifySignature(body + ' ', h, secret), false);
  assert.equal(verifySignature(body, serverSign(secret, body, now - 301), secret), false);
  assert.equal(verifySignature(body, serverSign(secret, body, now - 301), secret, { toleranceSec: 400 }), true);
  for (const bad of [undefined, '', 't=abc,v1=00', 'v1=' + 'a'.repeat(64), `t=${now}`, `t=${now},v1=zz`]) assert.equal(verifySignature(body, bad, secret), false, String(bad));
  assert.equal(verifySignature(body, [h], secret), true, 'a header array (node:http) takes its first value');
});
