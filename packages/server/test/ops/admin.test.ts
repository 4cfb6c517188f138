/**
 * The /admin dashboard: API-key login exchanged for an HttpOnly SameSite=Strict
 * session cookie, the JSON feed, the per-node table, and the page itself in
 * headless Chromium (screenshot: artifacts/screenshots/admin.png).
 *
 * In CI (CI=true) the browser test must run: a missing Chromium fails it
 * loudly. Elsewhere it is skipped only when /usr/bin/chromium does not exist.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { HeraldNode } from '../../src/node.js';
import { AdminSessions } from '../../src/admin/session.js';
import { API_KEY, connect, publish, startNode, type TestClient } from '../helpers/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const here = dirname(fileURLToPath(import.meta.url));
const screenshot = join(here, '../../../../artifacts/screenshots/admin.png');
const inCI = process.env.CI === 'true' || process.env.CI === '1';
const haveChromium = existsSync(CHROMIUM);

const nodes: HeraldNode[] = [];
const clients: TestClient[] = [];
async function node(extra: Parameters<typeof startNode>[0] = {}): Promise<HeraldNode> {
  const n = await startNode(extra);
  nodes.push(n);
  return n;
}
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(nodes.map((n) => n.close()));
});

async function login(n: HeraldNode, key: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(n.url + '/admin/login', {
    method: 'POST',
    body: new URLSearchParams({ key }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    redirect: 'manual',
  });
}

test('login: a wrong key is refused; the right key yields an HttpOnly SameSite=Strict cookie that is not the key', async () => {
  const n = await node();
  const bad = await login(n, 'not-the-key-at-all');
  assert.equal(bad.status, 303);
  assert.equal(bad.headers.get('location'), '/admin/login?failed=1');
  assert.equal(bad.headers.get('set-cookie'), null);

  const ok = await login(n, API_KEY);
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.get('location'), '/admin/');
  const cookie = ok.headers.get('set-cookie')!;
  assert.match(cookie, /^herald_admin=v1\.\d+\.[A-Za-z0-9_-]{43}; Path=\/admin; Max-Age=43200; HttpOnly; SameSite=Strict$/);
  assert.ok(!cookie.includes(API_KEY), 'the cookie does not carry the key');
  // Behind a TLS-terminating proxy the cookie is Secure.
  const tls = await login(n, API_KEY, { 'x-forwarded-proto': 'https' });
  assert.match(tls.headers.get('set-cookie')!, /; Secure$/);
  // A cross-origin form post is refused.
  const cross = await login(n, API_KEY, { origin: 'https://evil.example' });
  assert.equal(cross.status, 401);
});

test('the page and the JSON feed need a session or the bearer key; forged and expired sessions fail', async () => {
  const n = await node();
  const anon = await fetch(n.url + '/admin/', { redirect: 'manual' });
  assert.equal(anon.status, 303);
  assert.equal(anon.headers.get('location'), '/admin/login');
  assert.equal((await fetch(n.url + '/admin/login')).status, 200);
  assert.equal((await fetch(n.url + '/admin/api/stats')).status, 401);

  const cookie = (await login(n, API_KEY)).headers.get('set-cookie')!.split(';')[0]!;
  const page = await fetch(n.url + '/admin/', { headers: { cookie }, redirect: 'manual' });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy')!, /script-src 'self'/);
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  assert.equal((await fetch(n.url + '/admin/api/stats', { headers: { cookie } })).status, 200);
  assert.equal((await fetch(n.url + '/admin/api/stats', { headers: { authorization: `Bearer ${API_KEY}` } })).status, 200);

  const forged = cookie.slice(0, -4) + 'AAAA';
  assert.equal((await fetch(n.url + '/admin/api/stats', { headers: { cookie: forged } })).status, 401);
  const otherKey = new AdminSessions('another-api-key-0123456789', 3600).issue();
  assert.equal((await fetch(n.url + '/admin/api/stats', { headers: { cookie: `herald_admin=${otherKey}` } })).status, 401);
  const expired = new AdminSessions(API_KEY, 60).issue(Date.now() - 3_600_000);
  assert.equal((await fetch(n.url + '/admin/api/stats', { headers: { cookie: `herald_admin=${expired}` } })).status, 401);

  const out = await fetch(n.url + '/admin/logout', { method: 'POST', headers: { cookie }, redirect: 'manual' });
  assert.equal(out.status, 303);
  assert.match(out.headers.get('set-cookie')!, /^herald_admin=; Path=\/admin; Max-Age=0/);
  // Path traversal out of the static folder is refused.
  assert.equal((await fetch(n.url + '/admin/..%2f..%2fpackage.json', { headers: { cookie } })).status, 404);
});

test('the feed: live counts, counters, latency buckets, and a per-node table from engine.introspection.nodes()', async () => {
  const n = await node();
  const c = await connect(n, 'ada', { platform: 'web' });
  clients.push(c);
  assert.equal((await c.request({ type: 'join', room: 'ops' })).type, 'reply');
  assert.equal((await publish(n, { to: { user: 'ada' }, data: 1 })).status, 200);
  await c.waitFor((f) => f.type === 'message');
  const get = async (): Promise<Record<string, any>> => (await fetch(n.url + '/admin/api/stats', { headers: { authorization: `Bearer ${API_KEY}` } })).json() as Promise<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const s = await get();
  assert.equal(s.node, n.nodeId);
  assert.equal(s.engine, 'memory');
  assert.equal(s.draining, false);
  assert.deepEqual(s.totals, { connections: 1, users: 1, rooms: 1, nodes: 1 });
  assert.equal(s.local.platforms.web, 1);
  assert.equal(s.counters.published, 1);
  assert.equal(s.counters.deliveredReliable, 1);
  assert.equal(s.latency.deliver.count, 1);
  assert.equal(s.latency.deliver.buckets.at(-1)[0], null); // +Inf
  assert.equal(s.nodes.length, 1);
  assert.equal(s.nodes[0].node, n.nodeId);

  // A cluster engine lists every node; the local row stays live.
  Object.assign(n.engine, {
    introspection: {
      nodes: async () => [
        { node: n.nodeId, connections: 99, rooms: 99, users: 99, updatedAt: 0 },
        { node: 'zz-other', connections: 5, rooms: 2, users: 4, updatedAt: Date.now() - 2000 },
      ],
    },
  });
  const s2 = await get();
  assert.deepEqual(s2.nodes.map((x: { node: string; connections: number }) => [x.node, x.connections]), [[n.nodeId, 1], ['zz-other', 5]]);
  assert.deepEqual(s2.totals, { connections: 6, users: 5, rooms: 3, nodes: 2 });
});

test('the dashboard in headless Chromium: login form, live numbers, node table, screenshot', { skip: !haveChromium && !inCI ? `Chromium not found at ${CHROMIUM}` : false }, async () => {
  if (!haveChromium) throw new Error(`the admin browser test must run in CI but Chromium is missing at ${CHROMIUM}: install it with "apt-get install -y chromium"`);
  const n = await node();
  for (const [user, platform] of [['till-1', 'pos'], ['till-2', 'pos'], ['manager', 'web'], ['rider', 'mobile']] as const) {
    const c = await connect(n, user, { platform });
    clients.push(c);
    assert.equal((await c.request({ type: 'join', room: 'kitchen' })).type, 'reply');
  }
  Object.assign(n.engine, {
    introspection: { nodes: async () => [{ node: 'herald-b', connections: 1200, rooms: 40, users: 950, updatedAt: Date.now() - 1000 }] },
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });

    // Not logged in: the dashboard sends the browser to the login form.
    await page.goto(`${n.url}/admin/`);
    assert.ok(page.url().endsWith('/admin/login'), page.url());
    await page.fill('#key', 'wrong-key-0123456789');
    await page.click('#login');
    await page.waitForSelector('#failed:not([hidden])', { timeout: 10_000 });
    await page.fill('#key', API_KEY);
    await page.click('#login');
    await page.waitForURL(/\/admin\/$/, { timeout: 10_000 });

    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'herald_admin');
    assert.ok(session, 'session cookie set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(await page.evaluate(() => document.cookie), '', 'the session is invisible to scripts');

    await page.waitForSelector('#status[data-state="ready"]', { timeout: 10_000 });
    await page.waitForFunction(() => document.querySelector('#connections')?.textContent === '1,204', undefined, { timeout: 10_000 });
    // Traffic while the page polls: rates and latencies fill in.
    const until = Date.now() + 10_000;
    let k = 0;
    while (Date.now() < until) {
      for (const u of ['till-1', 'till-2', 'manager', 'rider']) assert.equal((await publish(n, { to: { user: u }, data: { order: k++ } })).status, 200);
      assert.equal((await publish(n, { to: { room: 'kitchen' }, data: { ticket: k } })).status, 200);
      const shown = await page.evaluate(() => ({ rate: document.querySelector('#rate-published')?.textContent, lat: document.querySelector('#lat-deliver')?.textContent, ack: document.querySelector('#lat-ack')?.textContent }));
      if (shown.rate && shown.rate !== '–' && shown.rate !== '0.0' && shown.lat !== '–' && shown.ack !== '–') break;
      await page.waitForTimeout(50); // pacing the load, not synchronisation
    }
    await page.waitForFunction(() => !['–', '0.0', ''].includes(document.querySelector('#rate-published')?.textContent ?? ''), undefined, { timeout: 10_000 });
    await page.waitForFunction(() => document.querySelector('#lat-deliver')?.textContent?.includes('/'), undefined, { timeout: 10_000 });

    const rows = await page.$$eval('#nodes tbody tr', (trs) => trs.map((tr) => [(tr as HTMLElement).dataset.key, tr.querySelectorAll('td')[1]?.textContent]));
    assert.deepEqual(rows, [
      ['herald-b', '1,200'],
      [n.nodeId, '4'],
    ]);
    assert.equal(await page.$eval('#platforms tr[data-key="pos"] td.num', (td) => td.textContent), '2');
    assert.equal(await page.textContent('#node'), n.nodeId);
    assert.equal(await page.textContent('#rooms'), '41');

    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    assert.ok(statSync(screenshot).size > 10_000, 'screenshot written');
    assert.deepEqual(problems, [], 'no script errors or CSP violations');

    // Logging out ends the session in this browser.
    await page.click('.logout button');
    await page.waitForURL(/\/admin\/login$/, { timeout: 10_000 });
    assert.equal((await context.cookies()).some((c) => c.name === 'herald_admin'), false);
  } finally {
    await browser.close();
  }
});
