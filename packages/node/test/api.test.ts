/**
 * @herald/node against a real server, through a proxy that injects faults:
 * 503s before the server sees a call, 503s after it handled one (the answer
 * is lost), 429 with Retry-After, and errors that must not be retried.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startHerald, type HeraldNode } from '../../server/src/internal.js';
import { HeraldApi, HeraldApiError } from '../src/index.js';

const API_KEY = 'node-sdk-test-key-0123456789';
const nodes: HeraldNode[] = [];
const servers: Server[] = [];
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await Promise.all(nodes.map((n) => n.close()));
});

async function herald(): Promise<HeraldNode> {
  const n = await startHerald({ port: 0, host: '127.0.0.1', jwtSecret: 'node-sdk-secret-0123456789abcdef', apiKey: API_KEY, logLevel: 'silent' });
  nodes.push(n);
  return n;
}

type Fault = 'before' | 'after' | { status: 429; retryAfter: string } | undefined;

/** Forwards to the node; each request takes the next planned fault (then none). */
async function faultyProxy(n: HeraldNode, plan: Fault[]): Promise<{ url: string; seen: { path: string; body: string }[] }> {
  const seen: { path: string; body: string }[] = [];
  const srv = createServer((req, res) => void (async () => {
    const body = await read(req);
    seen.push({ path: req.url ?? '', body });
    const fault = plan.shift();
    if (fault === 'before') return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"code":"unavailable","message":"injected"}}');
    if (fault !== undefined && fault !== 'after') return void res.writeHead(fault.status, { 'retry-after': fault.retryAfter }).end();
    const up = request({ host: '127.0.0.1', port: n.port, path: req.url, method: req.method, headers: req.headers }, (ur) => void (async () => {
      const text = await read(ur);
      // 'after': the server handled it, the answer is lost on the way back.
      if (fault === 'after') return void res.writeHead(503).end();
      res.writeHead(ur.statusCode ?? 502, ur.headers).end(text);
    })());
    up.end(body);
  })());
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, seen };
}

function read(m: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let s = '';
    m.on('data', (c: Buffer) => (s += c.toString()));
    m.on('end', () => resolve(s));
  });
}

const fast = { minDelayMs: 5, maxDelayMs: 20 };

test('injected 503s are retried with the same idempotency key: one message stored, the first result returned', async () => {
  const n = await herald();
  const p = await faultyProxy(n, ['before', 'after', 'before']);
  const api = new HeraldApi({ url: p.url, apiKey: API_KEY, retry: fast });
  const r = await api.publish({ to: { user: 'u1' }, data: { order: 7 } });
  assert.equal(p.seen.length, 4, 'three faults, then success');
  const keys = new Set(p.seen.map((s) => (JSON.parse(s.body) as { idempotency_key: string }).idempotency_key));
  assert.equal(keys.size, 1, 'every retry reused the key');
  assert.deepEqual(r.seq, { u1: 1 }, 'the first (lost) result, not a second message');
  const inbox = await n.engine.readAfter('default', 'u1', 0, 100, { maxMessages: 1000, maxAgeMs: 3_600_000 });
  assert.equal(inbox.messages.length, 1, 'stored once');
  // A second call is a new message: a new key.
  const r2 = await api.publish({ to: { user: 'u1' }, data: { order: 8 } });
  assert.deepEqual(r2.seq, { u1: 2 });
});

test('429 with Retry-After is honoured; 4xx errors are not retried and come back typed', async () => {
  const n = await herald();
  const p = await faultyProxy(n, [{ status: 429, retryAfter: '1' }]);
  const api = new HeraldApi({ url: p.url, apiKey: API_KEY, retry: fast });
  const t0 = Date.now();
  await api.publish({ to: { user: 'u2' }, data: 1 });
  assert.ok(Date.now() - t0 >= 950, 'waited the Retry-After second');
  const before = p.seen.length;
  await assert.rejects(
    api.publish({ to: { user: '' }, data: 1 }),
    (e: unknown) => e instanceof HeraldApiError && e.status === 400 && e.code === 'invalid_field' && e.field === 'to.user' && e.attempts === 1,
  );
  assert.equal(p.seen.length, before + 1, 'no retry of a 400');
  const bad = new HeraldApi({ url: n.url, apiKey: 'wrong', retry: fast });
  await assert.rejects(bad.userPresence('x'), (e: unknown) => e instanceof HeraldApiError && e.status === 401);
});

test('gives up after the attempts with the last error; network failures are retried too', async () => {
  const n = await herald();
  const p = await faultyProxy(n, ['before', 'before', 'before']);
  const api = new HeraldApi({ url: p.url, apiKey: API_KEY, retry: { ...fast, attempts: 3 } });
  await assert.rejects(api.publish({ to: { user: 'u3' }, data: 1 }), (e: unknown) => e instanceof HeraldApiError && e.status === 503 && e.attempts === 3);
  const dead = new HeraldApi({ url: 'http://127.0.0.1:1', apiKey: API_KEY, retry: { ...fast, attempts: 2 } });
  await assert.rejects(dead.publish({ to: { user: 'u3' }, data: 1 }), (e: unknown) => e instanceof HeraldApiError && e.code === 'network' && e.attempts === 2);
});

test('batch, presence and disconnect calls are typed and work end to end', async () => {
  const n = await herald();
  const p = await faultyProxy(n, ['before']);
  const api = new HeraldApi({ url: p.url, apiKey: API_KEY, retry: fast });
  const results = await api.publishBatch([{ to: { user: 'b1' }, data: 1 }, { to: { user: '' }, data: 2 }, { to: { user: 'b1' }, data: 3 }]);
  assert.equal(results.length, 3);
  assert.equal(results[0]!.ok, true);
  assert.equal(results[1]!.ok, false);
  assert.deepEqual(results[2]!.ok && results[2]!.seq, { b1: 2 });
  const presence = await api.userPresence('b1');
  assert.equal(presence.online, false);
  const room = await api.roomPresence('lobby', { tenant: 'acme' });
  assert.equal(room.count, 0);
  const d = await api.disconnect({ user: 'b1', reason: 'bye' });
  assert.equal(d.ok, true);
});
