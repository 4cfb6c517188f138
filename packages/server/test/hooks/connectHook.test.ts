/** The connect hook against a real HTTP backend: cookie sessions, rejects, JWT bypass, identity rules. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, nodeFactory, open, waitUntil } from '../helpers/harness.js';
import { verifySignature } from '../../src/outbound/signature.js';
import { json, startBackend } from './backend.js';
import { SseReader, sseUrl } from '../helpers/sseClient.js';

const HOOK_SECRET = 'hook-secret-0123456789abcdef';
const backend = await startBackend();
const node = nodeFactory();
const n = await node({ hookConnectUrl: backend.url('connect'), webhookSecret: HOOK_SECRET });

test('a cookie session: the backend sees headers (cookie), query and address, signed; the welcome carries its identity', async () => {
  backend.on('connect', (body, res) => {
    const cookie = (body.headers as Record<string, string>).cookie;
    if (cookie === 'sid=good') json(res, { user: 'alice', tenant: 'acme', rooms: ['lobby', 'team:*'] });
    else json(res, { reject: { code: 4001, reason: 'no session' } });
  });
  const c = open(n, { device: 'phone', platform: 'web', foo: 'bar' }, { headers: { cookie: 'sid=good', 'X-Custom': 'Yes' } });
  const w = await c.waitFor((f) => f.type === 'welcome');
  assert.equal(w.user, 'alice');
  assert.equal(w.tenant, 'acme');
  assert.equal(w.device, 'phone');
  const s = backend.seen.filter((x) => x.path === 'connect').at(-1)!;
  const headers = s.body.headers as Record<string, string>;
  assert.equal(headers.cookie, 'sid=good');
  assert.equal(headers['x-custom'], 'Yes', 'header names are lower-case');
  assert.deepEqual(s.body.query, { device: 'phone', platform: 'web', foo: 'bar' });
  assert.equal(s.body.remote, '127.0.0.1');
  assert.ok(verifySignature(s.raw, s.headers['herald-signature'] as string, HOOK_SECRET), 'Herald-Signature verifies');
  assert.match(String(s.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  // The hook's `rooms` is the allow-list, as a JWT claim would be.
  assert.equal((await c.request({ type: 'join', room: 'team:red' })).type, 'reply');
  const refused = await c.request({ type: 'join', room: 'elsewhere' });
  assert.equal(refused.code, 'room_forbidden');
  c.close();
});

test('reject answers close with their code (4001, 4003) and reason', async () => {
  backend.on('connect', (body, res) => {
    const q = body.query as Record<string, string>;
    json(res, { reject: { code: Number(q.want), reason: `refused ${q.want}` } });
  });
  for (const want of [4001, 4003]) {
    const c = open(n, { want: String(want) });
    const closed = await c.waitClosed();
    assert.equal(closed.code, want);
    assert.equal(closed.reason, `refused ${want}`);
  }
});

test('a token in the URL skips the hook', async () => {
  const before = backend.count('connect');
  const c = await connect(n, 'bob');
  assert.equal(c.frames[0]!.user, 'bob');
  assert.equal(backend.count('connect'), before, 'no hook call');
  c.close();
});

test('the hook identity makes the session like a JWT: replacement of the same device, expires_at in the past', async () => {
  backend.on('connect', (body, res) => {
    const q = body.query as Record<string, string>;
    if (q.past) json(res, { user: 'carol', expires_at: Math.floor(Date.now() / 1000) - 3600 });
    else json(res, { user: 'carol' });
  });
  const a = open(n, { device: 'd1' });
  await a.waitFor((f) => f.type === 'welcome');
  const b = open(n, { device: 'd1' });
  await b.waitFor((f) => f.type === 'welcome');
  assert.equal((await a.waitClosed()).code, 4004, 'the older connection of the same user+device is replaced');
  b.close();
  const old = open(n, { past: '1' });
  const closed = await old.waitClosed();
  assert.equal(closed.code, 4001);
  assert.match(closed.reason, /expired/);
});

test('a session from the hook ends at expires_at (4001), like a token', async () => {
  const n2 = await node({ hookConnectUrl: backend.url('connect'), heartbeatMs: 200, jwtClockToleranceSec: 0 });
  backend.on('connect', (_b, res) => json(res, { user: 'dave', expires_at: Math.floor(Date.now() / 1000) + 1 }));
  const c = open(n2);
  await c.waitFor((f) => f.type === 'welcome');
  const closed = await c.waitClosed(5000);
  assert.equal(closed.code, 4001);
});

test('without a connect hook a tokenless connection still waits for its auth frame', async () => {
  const plain = await node({});
  const c = open(plain);
  await waitUntil(() => c.opened || undefined, 2000, 'open');
  c.send({ type: 'auth', token: 'x.y.z' });
  assert.equal((await c.waitClosed()).code, 4001);
});

test('node.hooks.connect.authenticate: the transport-agnostic entry (for SSE) gives an identity or a refusal', async () => {
  backend.on('connect', (body, res) => {
    const cookie = (body.headers as Record<string, string>).cookie;
    json(res, cookie === 'sid=sse' ? { user: 'eve', tenant: 't', rooms: ['a'] } : { reject: { code: 4003, reason: 'banned' } });
  });
  const hook = n.hooks.connect!;
  const ok = await hook.authenticate({ headers: { cookie: 'sid=sse' }, query: new URLSearchParams('rooms=a'), remote: '192.0.2.1' });
  assert.deepEqual(ok, { ok: true, identity: { user: 'eve', tenant: 't', rooms: ['a'] } });
  const seen = backend.seen.filter((x) => x.path === 'connect').at(-1)!;
  assert.deepEqual(seen.body, { headers: { cookie: 'sid=sse' }, query: { rooms: 'a' }, remote: '192.0.2.1' });
  const no = await hook.authenticate({ headers: {}, query: new URLSearchParams(), remote: '192.0.2.1' });
  assert.deepEqual(no, { ok: false, code: 4003, reason: 'banned', why: 'rejected' });
});

test('an SSE stream without a token is authenticated by the connect hook, as a WebSocket is; a reject answers 401/403', async () => {
  backend.on('connect', (body, res) => {
    const cookie = (body.headers as Record<string, string>).cookie;
    if (cookie === 'sid=feed') json(res, { user: 'carol', tenant: 'acme' });
    else if (cookie === 'sid=banned') json(res, { reject: { code: 4003, reason: 'banned' } });
    else json(res, { reject: { code: 4001, reason: 'no session' } });
  });
  const s = new SseReader(sseUrl(n.url, { device: 'feed-1' }), { cookie: 'sid=feed' });
  const welcome = await waitUntil(() => s.events.find((e) => e.event === 'welcome'), 5000, 'SSE welcome');
  const w = JSON.parse(welcome.data) as Record<string, unknown>;
  assert.equal(w.user, 'carol');
  assert.equal(w.tenant, 'acme');
  assert.equal(w.device, 'feed-1');
  s.abort();
  for (const [cookie, status] of [['sid=banned', 403], ['sid=none', 401]] as const) {
    const r = new SseReader(sseUrl(n.url, { device: 'feed-2' }), { cookie });
    await r.done;
    assert.equal(r.status, status, cookie);
  }
});
