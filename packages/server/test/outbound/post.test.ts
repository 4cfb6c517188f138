/** The signed outbound POST (outbound/post.ts) against a real HTTP server: signature, timeout, bounds, failures. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { postJson, PostError } from '../../src/outbound/post.js';
import { signBody, verifySignature } from '../../src/outbound/signature.js';

const SECRET = 'outbound-secret-0123456789';
let handler: (req: IncomingMessage, body: string, res: ServerResponse) => void = (_q, _b, res) => res.end('{}');
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => handler(req, Buffer.concat(chunks).toString('utf8'), res));
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
after(() => {
  server.closeAllConnections();
  server.close();
});

const opts = { timeoutMs: 500, maxResponseBytes: 1024, secret: SECRET };

test('the body arrives signed; the receiver verifies it; a tampered body or a wrong secret does not', async () => {
  let seen: { sig: string | undefined; body: string; id: string | undefined } | undefined;
  handler = (req, body, res) => {
    seen = { sig: req.headers['herald-signature'] as string, body, id: req.headers['x-request-id'] as string };
    res.setHeader('content-type', 'application/json');
    res.end('{"allow":true}');
  };
  const r = await postJson(url, '{"a":1}', { ...opts, requestId: 'req-1' });
  assert.deepEqual(r.json, { allow: true });
  assert.equal(seen!.id, 'req-1');
  assert.equal(seen!.body, '{"a":1}');
  assert.equal(verifySignature(seen!.body, seen!.sig, SECRET), true);
  assert.equal(verifySignature('{"a":2}', seen!.sig, SECRET), false);
  assert.equal(verifySignature(seen!.body, seen!.sig, 'another-secret-0123456'), false);
});

test('signatures: the documented format, and an old timestamp is refused', () => {
  const h = signBody(SECRET, 'x', 1_700_000_000);
  assert.match(h, /^t=1700000000,v1=[0-9a-f]{64}$/);
  assert.equal(verifySignature('x', h, SECRET, { nowSec: 1_700_000_100 }), true);
  assert.equal(verifySignature('x', h, SECRET, { nowSec: 1_700_001_000 }), false);
  assert.equal(verifySignature('x', 'garbage', SECRET), false);
  assert.equal(verifySignature('x', undefined, SECRET), false);
});

test('failures are classified: status (3xx and 5xx), timeout, too large, not JSON', async () => {
  const fails = async (h: typeof handler, reason: string, status?: number) => {
    handler = h;
    const err = await postJson(url, '{}', opts).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof PostError, `expected a PostError for ${reason}`);
    assert.equal(err.reason, reason);
    if (status !== undefined) assert.equal(err.status, status);
  };
  await fails((_q, _b, res) => res.writeHead(302, { location: 'http://127.0.0.1:1/' }).end(), 'status', 302);
  await fails((_q, _b, res) => res.writeHead(503).end('{}'), 'status', 503);
  await fails(() => undefined, 'timeout'); // never answers
  await fails((_q, _b, res) => res.end('x'.repeat(5000)), 'too_large');
  await fails((_q, _b, res) => res.end('<html>'), 'bad_json');
  handler = (_q, _b, res) => res.end('');
  assert.equal((await postJson(url, '{}', opts)).json, undefined);
});

test('a refused connection is a network failure', async () => {
  const err = await postJson('http://127.0.0.1:1/x', '{}', opts).catch((e: unknown) => e);
  assert.ok(err instanceof PostError);
  assert.equal(err.reason, 'network');
});
