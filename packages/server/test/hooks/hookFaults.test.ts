/**
 * Hooks that misbehave: bad answers, redirects, huge bodies, hanging — each a clear refusal, a log
 * line naming the hook, no stuck connection. The breaker: failures open it (fast refusals, the
 * backend is left alone), then a probe closes it when the backend is back. The queue bound.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { API_KEY, SECRET, open, waitUntil, type TestClient } from '../helpers/harness.js';
import { startHerald, type HeraldNode } from '../../src/node.js';
import { createLogger } from '../../src/observability/logger.js';
import type { HeraldConfigInput } from '../../src/config/schema.js';
import { hang, json, startBackend, type Handler } from './backend.js';

const backend = await startBackend();
const lines: string[] = [];
const logger = createLogger('debug', { node: 'hooks-test' }, { write: (s: string) => void lines.push(s) });
const nodes: HeraldNode[] = [];
after(async () => {
  backend.releaseHung();
  await Promise.all(nodes.map((x) => x.close()));
});
async function node(extra: HeraldConfigInput): Promise<HeraldNode> {
  const x = await startHerald({ port: 0, host: '127.0.0.1', jwtSecret: SECRET, apiKey: API_KEY, logLevel: 'debug', ...extra }, { logger });
  nodes.push(x);
  return x;
}
async function metric(n: HeraldNode, pattern: RegExp): Promise<number> {
  const text = await (await fetch(n.url + '/metrics', { headers: { authorization: `Bearer ${API_KEY}` } })).text();
  const m = pattern.exec(text);
  return m ? Number(m[1]) : 0;
}
/** Polls /metrics until the pattern's number is `value` (bounded: 3 s). */
async function metricReaches(n: HeraldNode, pattern: RegExp, value: number, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while ((await metric(n, pattern)) !== value) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
async function closedWithin(c: TestClient, ms = 3000): Promise<{ code: number; reason: string; ms: number }> {
  const t0 = Date.now();
  const closed = await c.waitClosed(ms);
  return { ...closed, ms: Date.now() - t0 };
}

test('bad answers from the connect hook: 1013 with the reason, a log line naming the hook, never a session', async () => {
  const n = await node({ hookConnectUrl: backend.url('bad'), hookConnectTimeoutMs: 300, hookBreakerFailures: 100, hookMaxAnswerBytes: 1024 });
  const cases: [string, Handler, RegExp][] = [
    ['non-JSON', (_b, res) => res.end('<html>oops</html>'), /bad_json/],
    ['empty body', (_b, res) => res.end(''), /bad_answer/],
    ['wrong shape', (_b, res) => json(res, { usr: 'x' }), /bad_answer/],
    ['reject code outside 4001/4003', (_b, res) => json(res, { reject: { code: 4002, reason: 'x' } }), /bad_answer/],
    ['control characters in user', (_b, res) => json(res, { user: 'a\u0000b' }), /bad_answer/],
    ['expires_at in milliseconds', (_b, res) => json(res, { user: 'a', expires_at: Date.now() }), /bad_answer/],
    ['a 3xx', (_b, res) => res.writeHead(302, { location: 'http://127.0.0.1:1/' }).end(), /status/],
    ['a 500', (_b, res) => res.writeHead(500).end('{}'), /status/],
    ['a huge body', (_b, res) => res.end('{"user":"' + 'x'.repeat(1_000_000) + '"}'), /too_large/],
    ['hanging', hang, /timeout/],
  ];
  for (const [what, h, reason] of cases) {
    backend.on('bad', h);
    const before = lines.length;
    const c = open(n, { sid_hint: 'q-secret-value' }, { headers: { cookie: 'sid=never-logged-cookie' } });
    const closed = await closedWithin(c);
    assert.equal(closed.code, 1013, what);
    assert.match(closed.reason, reason, what);
    assert.ok(closed.ms < 2000, `${what}: closed in ${closed.ms} ms`);
    assert.equal(c.frames.find((f) => f.type === 'welcome'), undefined, what);
    const logged = lines.slice(before).join('');
    assert.match(logged, /"hook":"connect"/, `${what}: a log line names the hook`);
    assert.match(logged, reason, what);
  }
  await waitUntil(() => n.gateway.liveCount === 0 || undefined, 3000, 'no connection stuck');
  const all = lines.join('');
  assert.ok(!all.includes('never-logged-cookie'), 'cookies are never logged');
  assert.ok(!all.includes('q-secret-value'), 'the query is never logged');
  assert.ok((await metric(n, /herald_hook_failures_total\{hook="connect",reason="bad_answer",node="[^"]+"\} (\d+)/)) >= 4);
  assert.ok((await metric(n, /herald_auth_failures_total\{reason="hook_unavailable",node="[^"]+"\} (\d+)/)) >= 10);
  backend.releaseHung();
});

test('breaker: a hanging hook closes 1013 at its timeout, then refusals are fast while open, then a probe recovers', async () => {
  const n = await node({ hookConnectUrl: backend.url('flaky'), hookConnectTimeoutMs: 300, hookBreakerFailures: 3, hookBreakerOpenMs: 800 });
  backend.on('flaky', hang);
  for (let i = 0; i < 3; i++) {
    const closed = await closedWithin(open(n));
    assert.equal(closed.code, 1013);
    assert.ok(closed.ms >= 250, `timed out after ${closed.ms} ms`);
  }
  assert.equal(await metric(n, /herald_hook_breaker_state\{hook="connect",node="[^"]+"\} (\d+)/), 1, 'open');
  const calls = backend.count('flaky');
  const fast = await Promise.all(Array.from({ length: 20 }, () => closedWithin(open(n))));
  for (const f of fast) {
    assert.equal(f.code, 1013);
    // Refused by the open breaker itself, not after a hook call: the reason says so and the count
    // below shows the hanging backend was not called (which would have taken the 300 ms timeout).
    // No time bound here: on a loaded machine 20 parallel handshakes can take longer than a timeout.
    assert.match(f.reason, /breaker_open/);
  }
  assert.equal(backend.count('flaky'), calls, 'an open breaker leaves the backend alone');
  backend.releaseHung();
  // The backend is back; after the open window the first call is the probe, and it closes the breaker.
  backend.on('flaky', (_b, res) => json(res, { user: 'back' }));
  await new Promise((r) => setTimeout(r, 850));
  const c = open(n);
  const w = await c.waitFor((f) => f.type === 'welcome', 3000);
  assert.equal(w.user, 'back');
  assert.equal(await metric(n, /herald_hook_breaker_state\{hook="connect",node="[^"]+"\} (\d+)/), 0, 'closed');
  c.close();
  assert.ok((await metric(n, /herald_hook_failures_total\{hook="connect",reason="breaker_open",node="[^"]+"\} (\d+)/)) >= 20);
});

test('bounded concurrency: past hookMaxConcurrency calls wait in a queue of hookMaxQueue, and the rest fail at once', async () => {
  const n = await node({ hookConnectUrl: backend.url('slowq'), hookConnectTimeoutMs: 1000, hookMaxConcurrency: 1, hookMaxQueue: 1, hookBreakerFailures: 100 });
  backend.on('slowq', hang);
  const first = open(n);
  await waitUntil(() => backend.count('slowq') === 1 || undefined, 3000, 'the first call at the backend');
  const second = open(n);
  await metricReaches(n, /herald_hook_queued\{hook="connect",node="[^"]+"\} (\d+)/, 1, 'the second call queued');
  // Refused by the full queue at once, not after the hook's 1,000 ms timeout (the reason says so;
  // no time bound, which a loaded machine could break).
  const third = await closedWithin(open(n));
  assert.equal(third.code, 1013);
  assert.match(third.reason, /queue_full/);
  assert.equal(backend.count('slowq'), 1, 'one call at a time reaches the backend');
  // Both end within their timeout: the first at the backend, the queued one in the queue (or at once behind it).
  assert.equal((await closedWithin(first)).code, 1013);
  assert.equal((await closedWithin(second)).code, 1013);
  backend.releaseHung();
});
