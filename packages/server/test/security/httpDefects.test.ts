/**
 * Issue 13, HTTP side: each defect found by adversarial probing, reproduced
 * through a real node (raw TCP where fetch would normalise the request).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, API_KEY, connect, nodeFactory, publish, waitUntil } from '../helpers/harness.js';
import { rawGet, rawRequest, slowSocket, type SlowSocket } from './rawHttp.js';

const node = nodeFactory();

const UPGRADE = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

test('item 1: a request target that is no URL answers 400 (request and upgrade) and the node keeps serving', async () => {
  const n = await node();
  const plain = await rawRequest(n.port, 'GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(plain.status, 400);
  assert.equal((JSON.parse(plain.body) as { error: { code: string } }).error.code, 'invalid_field');
  for (const target of ['//x:99999/ws', '//[', '//[/ws']) {
    const up = await rawRequest(n.port, `GET ${target} HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n`);
    assert.equal(up.status, 400, `upgrade ${target}: ${up.text}`);
    assert.equal((JSON.parse(up.body) as { error: { code: string } }).error.code, 'invalid_field');
  }
  assert.equal((await api(n, 'GET', '/healthz')).status, 200);
  const c = await connect(n, 'after-bad-url');
  c.close();
});

test('item 2: a body nested deeper than maxJsonDepth answers 400 bad_json (publish, batch, disconnect), not 500', async () => {
  const n = await node();
  const deep = (k: number): string => '['.repeat(k) + ']'.repeat(k);
  const pub = await publish(n, `{"to":{"user":"u"},"data":${deep(5000)}}`);
  assert.equal(pub.status, 400);
  assert.deepEqual(pub.body, { error: { code: 'bad_json', message: 'request body nests arrays/objects deeper than 32 levels (maxJsonDepth)', field: 'body' } });
  const batch = await api(n, 'POST', '/api/v1/publish/batch', `{"messages":[{"to":{"user":"u"},"data":${deep(5000)}}]}`);
  assert.equal(batch.status, 400);
  assert.equal((batch.body.error as { code: string }).code, 'bad_json');
  const disc = await api(n, 'POST', '/api/v1/disconnect', `{"user":${deep(100_000)}}`);
  assert.equal(disc.status, 400);
  // Within the bound is fine (the body's own object is one level).
  assert.equal((await publish(n, `{"to":{"user":"u"},"data":${deep(30)}}`)).status, 200);
  // The option is honoured.
  const m = await node({ maxJsonDepth: 4 });
  assert.equal((await publish(m, `{"to":{"user":"u"},"data":${deep(3)}}`)).status, 200);
  assert.equal((await publish(m, `{"to":{"user":"u"},"data":${deep(4)}}`)).status, 400);
});

test('item 2: an unexpected exception in a handler answers one 500 JSON error and the node keeps serving', async () => {
  const n = await node();
  const engine = n.engine as { userPresence: (...a: unknown[]) => unknown };
  const orig = engine.userPresence;
  engine.userPresence = () => {
    throw new RangeError('Maximum call stack size exceeded');
  };
  try {
    const r = await api(n, 'GET', '/api/v1/users/alice/presence');
    assert.equal(r.status, 500);
    assert.deepEqual(r.body, { error: { code: 'internal', message: 'internal error' } });
  } finally {
    engine.userPresence = orig;
  }
  assert.equal((await api(n, 'GET', '/api/v1/users/alice/presence')).status, 200);
});

test('item 3: slowloris sockets get 408 and are destroyed within the headers timeout; the per-IP cap refuses the N+1th', async () => {
  const cap = 8;
  const n = await node({ httpHeadersTimeoutMs: 1000, maxHttpSocketsPerIp: cap });
  const t0 = Date.now();
  const slow: SlowSocket[] = [];
  for (let i = 0; i < cap; i++) slow.push(await slowSocket(n.port));
  // The N+1th socket from the same address is refused at once while the N are held.
  const refused = await rawGet(n.port, '/healthz');
  assert.equal(refused.status, 429, refused.text);
  assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'rate_limited');
  // Every slow socket is answered 408 and ended within the timeout plus the check interval (100 ms here) and slack.
  await waitUntil(() => slow.every((s) => s.ended()), 4000, 'slow sockets ended by the server');
  assert.ok(Date.now() - t0 < 4000);
  for (const s of slow) assert.match(s.received(), /^HTTP\/1\.1 408 /);
  // They are destroyed, not half-closed: the server released them (they never closed their side),
  // so the same address is admitted again.
  const again = await waitUntilAsync(async () => {
    const r = await rawGet(n.port, '/healthz');
    return r.status === 200 ? r : undefined;
  }, 3000, 'a new socket admitted after the slow ones were dropped');
  assert.equal(again.status, 200);
  assert.ok(n.stats.limitRejections.get('http_sockets_per_ip')! >= 1);
  for (const s of slow) s.socket.destroy();
});

test('item 3: a pre-upgrade WebSocket counts against the cap until it upgrades; upgraded ones do not', async () => {
  const n = await node({ maxHttpSocketsPerIp: 2 });
  const clients = [];
  for (let i = 0; i < 4; i++) clients.push(await connect(n, `cap-${i}`));
  assert.equal((await api(n, 'GET', '/healthz')).status, 200);
  for (const c of clients) c.close();
});

test('item 7: an online count that fails never turns a stored message into an error (publish, batch, idempotent)', async () => {
  const n = await node();
  const c = await connect(n, 'oc-user');
  // The memory engine also counts synchronously (onlineCountNow, the publish path's promise-free read): both fail.
  const engine = n.engine as { onlineCount: (...a: unknown[]) => Promise<number>; onlineCountNow?: (...a: unknown[]) => number };
  const orig = engine.onlineCount;
  const origNow = engine.onlineCountNow;
  assert.equal(typeof origNow, 'function', 'the memory engine counts synchronously too');
  engine.onlineCount = () => Promise.reject(new Error('engine fault: online count'));
  engine.onlineCountNow = () => {
    throw new Error('engine fault: online count');
  };
  try {
    const one = await publish(n, { to: { user: 'oc-user' }, data: { n: 1 } });
    assert.equal(one.status, 200, JSON.stringify(one.body));
    assert.deepEqual(one.body.seq, { 'oc-user': 1 });
    assert.equal('online' in one.body, false, 'online is omitted when it cannot be counted');
    const batch = await api(n, 'POST', '/api/v1/publish/batch', { messages: [{ to: { user: 'oc-user' }, data: { n: 2 } }, { to: { room: 'r' }, data: 3 }] });
    assert.equal(batch.status, 200);
    const results = batch.body.results as { ok: boolean; seq?: Record<string, number>; online?: number }[];
    assert.deepEqual(results.map((r) => r.ok), [true, true]);
    assert.deepEqual(results[0]!.seq, { 'oc-user': 2 });
    const keyed = { to: { user: 'oc-user' }, data: { n: 4 }, idempotency_key: 'oc-k1' };
    const first = await publish(n, keyed);
    const retry = await publish(n, keyed);
    assert.equal(first.status, 200);
    assert.deepEqual(retry.body, first.body, 'the retry gets the stored result');
    await c.waitForCount((f) => f.type === 'message', 3, 5000, 'the three stored messages');
    assert.deepEqual(c.seqs(), [1, 2, 3]);
  } finally {
    engine.onlineCount = orig;
    engine.onlineCountNow = origNow;
    c.close();
  }
  assert.equal(typeof (await publish(n, { to: { user: 'oc-user' }, data: 5 })).body.online, 'number', 'counted again once the engine answers');
});

test('item 7: a result that cannot be recorded under its idempotency key still answers 200, and a retry is not stored twice', async () => {
  const n = await node();
  const c = await connect(n, 'ic-user');
  const engine = n.engine as { idempotencyComplete: (...a: unknown[]) => Promise<void> };
  const orig = engine.idempotencyComplete;
  engine.idempotencyComplete = () => Promise.reject(new Error('engine fault: complete'));
  try {
    const keyed = { to: { user: 'ic-user' }, data: 1, idempotency_key: 'ic-k1' };
    const first = await publish(n, keyed);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(first.body.seq, { 'ic-user': 1 });
    const retry = await publish(n, keyed);
    assert.equal(retry.status, 409, 'the claim is kept: the retry is told to wait, not stored again');
  } finally {
    engine.idempotencyComplete = orig;
  }
  await c.waitForCount((f) => f.type === 'message', 1, 5000, 'the stored message');
  assert.equal((await publish(n, { to: { user: 'ic-user' }, data: 2 })).body.seq !== undefined, true);
  await c.waitForCount((f) => f.type === 'message', 2, 5000, 'the next message');
  assert.deepEqual(c.seqs(), [1, 2], 'one copy of the first message');
  c.close();
});

test('item 11: users:["__proto__", …] keeps every entry of the seq map', async () => {
  const n = await node();
  const r = await publish(n, { to: { users: ['__proto__', 'constructor', 'bob'] }, data: 1 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const text = JSON.stringify(r.body.seq);
  assert.deepEqual(JSON.parse(text), JSON.parse('{"__proto__":1,"constructor":1,"bob":1}'));
  assert.equal(Object.keys(JSON.parse(text) as object).length, 3);
  const batch = await api(n, 'POST', '/api/v1/publish/batch', { messages: [{ to: { users: ['__proto__', 'bob'] }, data: 2 }] });
  assert.equal(Object.keys((batch.body.results as { seq: object }[])[0]!.seq).length, 2);
});

test('item 12: the dashboard is never served without a session, however its path is spelled', async () => {
  const n = await node();
  const variants = [
    '/admin/',
    '/admin/index.html',
    '/admin/.%2findex.html',
    '/admin/%2e/index.html',
    '/admin/%2e%2findex.html',
    '/admin//index.html',
    '/admin/x/..%2findex.html',
    '/admin/x%2f..%2findex.html',
    '/admin/.%5cindex.html',
    '/admin/./index.html',
    '/admin/%2e%2e/admin/index.html',
    '/admin/%2F',
    '/admin//',
  ];
  for (const v of variants) {
    const r = await rawGet(n.port, v);
    assert.equal(r.status, 303, `${v}: ${r.status}`);
    assert.equal(r.headers.location, '/admin/login', v);
  }
  // With a session the page is served; the login page and assets need none.
  assert.equal((await rawGet(n.port, '/admin/.%2findex.html', { authorization: `Bearer ${API_KEY}` })).status, 200);
  assert.equal((await rawGet(n.port, '/admin/login')).status, 200);
  assert.equal((await rawGet(n.port, '/admin/login.js')).status, 200);
  assert.equal((await rawGet(n.port, '/admin/..%2f..%2fpackage.json')).status, 404);
});

test('item 13: failed API-key checks are throttled per address (429 + Retry-After), counted, and other addresses are unaffected', async () => {
  const n = await node({ authFailuresPerIpPerMin: 60, authFailureBurstPerIp: 3, trustedProxies: ['127.0.0.1'] });
  const from = (ip: string, key: string): Record<string, string> => ({ 'x-forwarded-for': ip, authorization: `Bearer ${key}` });
  for (let i = 0; i < 3; i++) assert.equal((await api(n, 'GET', '/api/v1/users/a/presence', undefined, from('203.0.113.7', `wrong-${i}`))).status, 401);
  const over = await api(n, 'GET', '/api/v1/users/a/presence', undefined, from('203.0.113.7', 'wrong-x'));
  assert.equal(over.status, 429);
  assert.equal((over.body.error as { code: string }).code, 'rate_limited');
  assert.ok(Number(over.headers.get('retry-after')) >= 1);
  // Over budget even the right key is refused from that address (no oracle), not from another one.
  assert.equal((await api(n, 'GET', '/api/v1/users/a/presence', undefined, from('203.0.113.7', API_KEY))).status, 429);
  assert.equal((await api(n, 'GET', '/api/v1/users/a/presence', undefined, from('198.51.100.2', API_KEY))).status, 200);
  // The admin login and the admin feed share the address's budget.
  const login = await fetch(n.url + '/admin/login', { method: 'POST', body: `key=${API_KEY}`, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '203.0.113.7' }, redirect: 'manual' });
  assert.equal(login.status, 429);
  assert.ok(Number(login.headers.get('retry-after')) >= 1);
  // After the window (1 failure per second refills) the right key works again.
  await waitUntilAsync(async () => ((await api(n, 'GET', '/api/v1/users/a/presence', undefined, from('203.0.113.7', API_KEY))).status === 200 ? true : undefined), 3000, 'the budget refilled');
  const metrics = await (await fetch(n.url + '/metrics')).text();
  assert.match(metrics, /herald_auth_failures_total\{[^}]*reason="api_key"[^}]*\} 3/);
  assert.match(metrics, /herald_limit_rejections_total\{[^}]*limit="auth_failures_per_ip"[^}]*\} [1-9]/);
});

test('item 13: admin login failures are throttled per address', async () => {
  const n = await node({ authFailuresPerIpPerMin: 1, authFailureBurstPerIp: 2 });
  const login = (key: string): Promise<Response> =>
    fetch(n.url + '/admin/login', { method: 'POST', body: `key=${encodeURIComponent(key)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, redirect: 'manual' });
  assert.equal((await login('bad-1')).status, 303);
  assert.equal((await login('bad-2')).status, 303);
  const over = await login('bad-3');
  assert.equal(over.status, 429);
  assert.ok(Number(over.headers.get('retry-after')) >= 30);
  const feed = await fetch(n.url + '/admin/api/stats', { headers: { authorization: `Bearer ${API_KEY}` } });
  assert.equal(feed.status, 429, 'the bearer feed shares the budget');
});

/** Like waitUntil, for async checks (each check awaited, bounded by `ms`). */
async function waitUntilAsync<T>(check: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
