/**
 * Structured logs: request ids (honoured when sane, generated otherwise,
 * echoed in x-request-id and present in the request's log lines), connection
 * and user ids on connection logs, and never a token, API key or message body.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, type HeraldNode } from '../../src/node.js';
import { createLogger, requestId } from '../../src/observability/logger.js';
import { API_KEY, SECRET, connect, token, waitUntil } from '../helpers/harness.js';

const nodes: HeraldNode[] = [];
after(async () => {
  await Promise.all(nodes.map((n) => n.close()));
});

function capture(level = 'debug'): { text: () => string; logger: ReturnType<typeof createLogger> } {
  const raw: string[] = [];
  const logger = createLogger(level, { node: 'log-test' }, { write: (s: string) => void raw.push(s) });
  return { text: () => raw.join(''), logger };
}

function parsed(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('requestId: honours sane ids, replaces anything else', () => {
  assert.equal(requestId('abc-123_X.y:z'), 'abc-123_X.y:z');
  assert.equal(requestId(['first-id', 'second']), 'first-id');
  for (const bad of [undefined, '', 'has space', 'new\nline', 'x'.repeat(129), '"quoted"', '{json}']) {
    const id = requestId(bad);
    assert.notEqual(id, bad);
    assert.match(id, /^[A-Za-z0-9_-]{8}-[0-9a-z]+$/);
  }
  assert.notEqual(requestId(undefined), requestId(undefined), 'fresh ids are unique');
});

test('API requests carry a request id in the response and in their log lines; no key, token or body is logged', async () => {
  const cap = capture();
  const n = await startHerald({ port: 0, host: '127.0.0.1', jwtSecret: SECRET, apiKey: API_KEY, logLevel: 'debug' }, { logger: cap.logger });
  nodes.push(n);
  const tok = await token('grace');
  const c = await connect(n, 'grace', { token: tok, device: 'tablet' });

  const secretBody = 'confidential-order-4711';
  const res = await fetch(n.url + '/api/v1/publish', {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', 'x-request-id': 'req-from-upstream.42' },
    body: JSON.stringify({ to: { user: 'grace' }, data: { note: secretBody } }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-request-id'), 'req-from-upstream.42');
  await c.waitFor((f) => f.type === 'message');

  const generated = await fetch(n.url + '/api/v1/publish', { method: 'POST', headers: { authorization: 'Bearer wrong-key', 'x-request-id': 'not a sane id' }, body: '{}' });
  assert.equal(generated.status, 401);
  const gid = generated.headers.get('x-request-id')!;
  assert.match(gid, /^[A-Za-z0-9_-]{8}-[0-9a-z]+$/);

  c.ws.close(1000);
  await c.waitClosed();
  await waitUntil(() => cap.text().includes('"msg":"connection closed"'), 5000, 'the close log line');

  const lines = parsed(cap.text());
  const ok = lines.find((l) => l.req === 'req-from-upstream.42' && l.msg === 'request');
  assert.ok(ok, 'the publish is logged with its request id');
  assert.equal(ok.route, 'publish');
  assert.equal(ok.status, 200);
  assert.equal(ok.path, '/api/v1/publish');
  assert.equal(typeof ok.ms, 'number');
  assert.equal(ok.node, 'log-test');
  const refused = lines.find((l) => l.req === gid);
  assert.ok(refused, 'the refused request is logged with its generated id');
  assert.equal(refused.level, 30, '4xx at info');
  assert.equal(refused.status, 401);
  const closed = lines.find((l) => l.msg === 'connection closed');
  assert.ok(closed);
  assert.equal(closed.user, 'grace');
  assert.match(String(closed.conn), /\./);

  const all = cap.text();
  assert.ok(!all.includes(API_KEY), 'API key never logged');
  assert.ok(!all.includes(tok), 'token never logged');
  assert.ok(!all.includes(secretBody), 'message body never logged');
  assert.ok(!all.includes('wrong-key'), 'a wrong key is not logged either');
});

test('the redact list censors secrets and bodies wherever a caller puts them', () => {
  const cap = capture('info');
  cap.logger.info({ token: 't0k', apiKey: 'k3y', headers: { authorization: 'Bearer zzz', cookie: 'herald_admin=v1.x' }, data: 'payload!', body: { a: 1 }, req: { query: 'token=abc' } }, 'careless');
  const line = parsed(cap.text())[0]!;
  assert.equal(line.token, '[redacted]');
  assert.equal(line.apiKey, '[redacted]');
  assert.deepEqual(line.headers, { authorization: '[redacted]', cookie: '[redacted]' });
  assert.equal(line.data, '[redacted]');
  assert.equal(line.body, '[redacted]');
  assert.deepEqual(line.req, { query: '[redacted]' });
});
