/**
 * The admin page's user lookup and actions (admin/userActions.ts): devices
 * with platform, node, since, cursor and unacked count, inbox depth — on the
 * memory and Redis engines — disconnect (4011) and a test message, behind the
 * login with a per-session CSRF token; then the same in headless Chromium.
 *
 * In CI (CI=true) the browser test must run: a missing Chromium fails it
 * loudly. Elsewhere it is skipped only when /usr/bin/chromium does not exist.
 * Screenshot of the panel: artifacts/screenshots/admin-users.png.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { HeraldNode } from '../../src/node.js';
import { API_KEY, api, connect, nodeFactory, publish, startNode, type TestClient } from '../helpers/harness.js';
import { AdminSessions } from '../../src/admin/session.js';
import { deleteKeys, sharedRedis, testPrefix, waitFor } from '../helpers/redisServer.js';

const CHROMIUM = '/usr/bin/chromium';
const screenshot = join(dirname(fileURLToPath(import.meta.url)), '../../../../artifacts/screenshots/admin-users.png');
const inCI = process.env.CI === 'true' || process.env.CI === '1';
const haveChromium = existsSync(CHROMIUM);

const node = nodeFactory();
const clients: TestClient[] = [];
after(() => {
  for (const c of clients) c.close();
});
async function device(n: HeraldNode, user: string, o: Parameters<typeof connect>[2]): Promise<TestClient> {
  const c = await connect(n, user, o);
  clients.push(c);
  return c;
}

async function login(n: HeraldNode): Promise<string> {
  const res = await fetch(n.url + '/admin/login', {
    method: 'POST',
    body: new URLSearchParams({ key: API_KEY }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    redirect: 'manual',
  });
  assert.equal(res.status, 303);
  return res.headers.get('set-cookie')!.split(';')[0]!;
}

type Lookup = {
  online: boolean;
  inbox: { depth: number; tip: number; floor: number; truncated: boolean } | null;
  devices: { device: string; platform: string; node: string; since: string; cursor: number | null; unacked: number | null }[];
};

/**
 * ada has two devices: the till acks only seq 1, the phone acks everything.
 * Messages 1–3 go to the user, 4 to the phone alone: the till has 2 unacked
 * (2, 3; not 4), the phone none; the inbox holds 4.
 */
async function scenario(n: HeraldNode): Promise<Lookup> {
  const till = await device(n, 'ada', { device: 'till-1', platform: 'pos' });
  till.autoAck = false;
  const phone = await device(n, 'ada', { device: 'phone', platform: 'mobile' });
  for (let i = 1; i <= 3; i++) assert.equal((await publish(n, { to: { user: 'ada' }, data: { i } })).status, 200);
  assert.equal((await publish(n, { to: { user: 'ada', device: 'phone' }, data: { i: 4 } })).status, 200);
  await till.waitForCount((f) => f.type === 'message', 3);
  await phone.waitForCount((f) => f.type === 'message', 4);
  till.send({ type: 'ack', seq: 1 });
  return waitFor('both cursors stored', async () => {
    const r = await api(n, 'GET', '/admin/api/user?user=ada');
    assert.equal(r.status, 200);
    const body = r.body as unknown as Lookup;
    const cursors = body.devices.map((d) => d.cursor);
    return cursors[0] === 4 && cursors[1] === 1 ? body : undefined;
  });
}

function assertScenario(n: HeraldNode, u: Lookup): void {
  assert.equal(u.online, true);
  assert.deepEqual(u.inbox, { depth: 4, tip: 4, floor: 0, truncated: false });
  assert.deepEqual(
    u.devices.map(({ device, platform, node, cursor, unacked }) => ({ device, platform, node, cursor, unacked })),
    [
      { device: 'phone', platform: 'mobile', node: n.nodeId, cursor: 4, unacked: 0 },
      { device: 'till-1', platform: 'pos', node: n.nodeId, cursor: 1, unacked: 2 },
    ],
  );
  for (const d of u.devices) assert.ok(Math.abs(Date.parse(d.since) - Date.now()) < 60_000, `since is a recent ISO time: ${d.since}`);
}

test('lookup (memory engine): devices with platform, node, since, cursor and unacked count; inbox depth; auth and bad input', async () => {
  const n = await node();
  assertScenario(n, await scenario(n));

  // Nobody by that name: offline, empty inbox, nothing created.
  const nobody = await api(n, 'GET', '/admin/api/user?user=nobody&tenant=acme');
  assert.equal(nobody.status, 200);
  assert.deepEqual(nobody.body, { tenant: 'acme', user: 'nobody', online: false, inbox: { depth: 0, tip: 0, floor: 0, truncated: false }, devices: [] });
  assert.equal((await api(n, 'GET', '/admin/api/user?user=')).status, 400);
  assert.equal((await api(n, 'GET', '/admin/api/user?user=' + 'x'.repeat(129))).body.error !== undefined, true);

  // A session cookie or the bearer key; nothing else.
  assert.equal((await fetch(n.url + '/admin/api/user?user=ada')).status, 401);
  const cookie = await login(n);
  assert.equal((await fetch(n.url + '/admin/api/user?user=ada', { headers: { cookie } })).status, 200);
});

/**
 * adminInspectMaxMessages 2: only the newest two (seq 4 for the phone, seq 3)
 * are walked: depth 2, the till has at least 1 unacked, and the answer says so.
 */
async function assertTruncated(n: HeraldNode): Promise<void> {
  const till = await device(n, 'eve', { device: 'till-1', platform: 'pos' });
  till.autoAck = false;
  for (let i = 1; i <= 3; i++) assert.equal((await publish(n, { to: { user: 'eve' }, data: { i } })).status, 200);
  assert.equal((await publish(n, { to: { user: 'eve', device: 'phone' }, data: { i: 4 } })).status, 200);
  await till.waitForCount((f) => f.type === 'message', 3);
  const r = (await api(n, 'GET', '/admin/api/user?user=eve')).body as unknown as Lookup;
  assert.deepEqual(r.inbox, { depth: 2, tip: 4, floor: 0, truncated: true });
  assert.deepEqual(r.devices.map((d) => [d.device, d.cursor, d.unacked]), [['till-1', 0, 1]]);
}

test('lookup: adminInspectMaxMessages bounds the inbox walk (memory engine), and the answer says it is truncated', async () => {
  await assertTruncated(await node({ adminInspectMaxMessages: 2 }));
});

test('lookup (Redis engine): the same counts from the inspect script', async () => {
  const { url, client } = await sharedRedis();
  const prefix = testPrefix();
  const n = await startNode({ engine: 'redis', redisUrl: url, redisKeyPrefix: prefix, ingestEnabled: false });
  try {
    assertScenario(n, await scenario(n));
    // A per-message expired entry is not held, nor unacked.
    const till = clients.at(-2)!;
    assert.equal((await publish(n, { to: { user: 'ada' }, data: 'short', ttl: 1 })).status, 200);
    await till.waitForCount((f) => f.type === 'message', 4);
    const expired = await waitFor('the ttl to pass', async () => {
      const body = (await api(n, 'GET', '/admin/api/user?user=ada')).body as unknown as Lookup;
      return body.inbox!.depth === 4 && body.inbox!.tip === 5 ? body : undefined;
    }, 5_000, 50);
    assert.equal(expired.devices.find((d) => d.device === 'till-1')!.unacked, 2);
    // The walk's bound, on Redis.
    const limited = await startNode({ engine: 'redis', redisUrl: url, redisKeyPrefix: prefix + 'lim:', ingestEnabled: false, adminInspectMaxMessages: 2 });
    try {
      await assertTruncated(limited);
    } finally {
      await limited.close();
    }
  } finally {
    await n.close();
    await deleteKeys(client, prefix);
    await client.quit();
  }
});

test('actions: CSRF token per session, Origin and Sec-Fetch-Site checks, disconnect (4011) and a test message', async () => {
  const n = await node();
  const till = await device(n, 'bo', { device: 'till-1', platform: 'pos' });
  const phone = await device(n, 'bo', { device: 'phone', platform: 'mobile' });
  const cookie = await login(n);

  // The token comes with a session only.
  assert.equal((await fetch(n.url + '/admin/api/csrf')).status, 401);
  assert.equal((await fetch(n.url + '/admin/api/csrf', { headers: { authorization: `Bearer ${API_KEY}` } })).status, 401);
  const csrfRes = await fetch(n.url + '/admin/api/csrf', { headers: { cookie } });
  assert.equal(csrfRes.status, 200);
  const { header, token } = (await csrfRes.json()) as { header: string; token: string };
  assert.equal(header, 'x-herald-csrf');
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);

  const send = (headers: Record<string, string>, body: unknown = { user: 'bo', data: { hello: 'admin' }, event: 'admin.test' }): Promise<Response> =>
    fetch(n.url + '/admin/api/send', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const errorCode = async (r: Response): Promise<string> => ((await r.json()) as { error: { code: string } }).error.code;

  // No credentials: 401. A session without its token, with a wrong one, or with another session's: 403.
  assert.equal((await send({})).status, 401);
  const noToken = await send({ cookie });
  assert.equal(noToken.status, 403);
  assert.equal(await errorCode(noToken), 'forbidden');
  assert.equal((await send({ cookie, [header]: token.slice(0, -2) + 'AA' })).status, 403);
  // Sessions are stateless (v1.<expiry>.<mac>): another one is another expiry.
  const other = `herald_admin=${new AdminSessions(API_KEY, 600).issue()}`;
  assert.equal((await fetch(n.url + '/admin/api/user?user=bo', { headers: { cookie: other } })).status, 200, 'a valid session');
  assert.equal((await send({ cookie: other, [header]: token })).status, 403);
  // The right token from another site: 403.
  assert.equal((await send({ cookie, [header]: token, origin: 'https://evil.example' })).status, 403);
  assert.equal((await send({ cookie, [header]: token, 'sec-fetch-site': 'cross-site' })).status, 403);
  assert.equal(till.messages().length + phone.messages().length, 0, 'nothing refused was sent');

  // With the token: sent through the normal publish path, reliable, to every device.
  const ok = await send({ cookie, [header]: token, origin: n.url, 'sec-fetch-site': 'same-origin' });
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.equal(typeof ((await ok.json()) as { seq: Record<string, number> }).seq.bo, 'number');
  for (const c of [till, phone]) {
    const m = await c.waitFor((f) => f.type === 'message');
    assert.deepEqual([m.event, m.data, m.seq], ['admin.test', { hello: 'admin' }, 1]);
  }
  // Bad bodies are named.
  const bad = await send({ cookie, [header]: token }, { user: 'bo', data: 1, extra: true });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: { field: string } }).error.field, 'extra');
  assert.equal((await send({ cookie, [header]: token }, { user: 'bo' })).status, 400);

  // Disconnect one device: that one closes 4011, the other stays.
  const dis = await fetch(n.url + '/admin/api/disconnect', { method: 'POST', headers: { 'content-type': 'application/json', cookie, [header]: token }, body: JSON.stringify({ user: 'bo', device: 'till-1' }) });
  assert.equal(dis.status, 200);
  assert.deepEqual(await dis.json(), { ok: true, disconnected_local: 1 });
  assert.equal((await till.waitClosed()).code, 4011);
  assert.equal(phone.closed, undefined);
  // Scripts use the bearer key and need no token; the whole user goes.
  const all = await api(n, 'POST', '/admin/api/disconnect', { user: 'bo' });
  assert.equal(all.status, 200);
  assert.equal((await phone.waitClosed()).code, 4011);
  // Not a GET.
  assert.notEqual((await fetch(n.url + '/admin/api/disconnect', { headers: { cookie } })).status, 200);
});

test('in headless Chromium: log in, look up a user, disconnect a device (4011), send a test message; a POST without the token is 403', { skip: !haveChromium && !inCI ? `Chromium not found at ${CHROMIUM}` : false }, async () => {
  if (!haveChromium) throw new Error(`the admin browser test must run in CI but Chromium is missing at ${CHROMIUM}: install it with "apt-get install -y chromium"`);
  const n = await node();
  const till = await device(n, 'cy', { device: 'till-9', platform: 'pos', tenant: 'acme' });
  const phone = await device(n, 'cy', { device: 'phone', platform: 'mobile', tenant: 'acme' });
  assert.equal((await publish(n, { to: { user: 'cy', tenant: 'acme' }, data: 'before' })).status, 200);
  await phone.waitFor((f) => f.type === 'message');
  await till.waitFor((f) => f.type === 'message');
  await waitFor('both acks stored', async () => {
    const body = (await api(n, 'GET', '/admin/api/user?user=cy&tenant=acme')).body as unknown as Lookup;
    return body.devices.every((d) => d.cursor === 1) || undefined;
  });

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    await page.goto(`${n.url}/admin/`);
    await page.fill('#key', API_KEY);
    await page.click('#login');
    await page.waitForURL(/\/admin\/$/, { timeout: 10_000 });

    await page.fill('#lookup-tenant', 'acme');
    await page.fill('#lookup-user', 'cy');
    await page.click('#lookup button[type=submit]');
    await page.waitForSelector('#user-devices tr[data-device="till-9"]', { timeout: 10_000 });
    const rows = await page.$$eval('#user-devices tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td')).slice(0, 6).map((td) => td.textContent)));
    assert.deepEqual(
      rows.map((r) => [r[0], r[1], r[2], r[4], r[5]]),
      [
        ['phone', 'mobile', n.nodeId, '1', '0'],
        ['till-9', 'pos', n.nodeId, '1', '0'],
      ],
    );
    assert.match(await page.textContent('#user-summary') ?? '', /acme \/ cy: 2 device\(s\) online · inbox 1 held/);

    mkdirSync(dirname(screenshot), { recursive: true });
    await page.locator('#user-lookup').screenshot({ path: screenshot });

    // Disconnect the till from its row: the client gets 4011, the table loses the row.
    await page.click('#user-devices tr[data-device="till-9"] button.disconnect-device');
    assert.equal((await till.waitClosed(10_000)).code, 4011);
    // The connection leaves presence once its close completes: look up again until the row is gone.
    for (const deadline = Date.now() + 10_000; await page.$('#user-devices tr[data-device="till-9"]'); ) {
      assert.ok(Date.now() < deadline, 'the disconnected device is still listed after 10 s');
      await page.click('#lookup button[type=submit]');
      await page.waitForTimeout(100); // pacing the re-lookups, not synchronisation
    }
    assert.equal(phone.closed, undefined);

    // A test message: the phone receives it.
    await page.fill('#send-data', '{"text":"hello from admin"}');
    await page.click('#send-test button[type=submit]');
    const m = await phone.waitFor((f) => f.type === 'message' && f.event === 'admin.test', 10_000);
    assert.deepEqual(m.data, { text: 'hello from admin' });
    await page.waitForSelector('#user-result[data-state="ok"]', { timeout: 10_000 });
    assert.deepEqual(problems, [], 'no script errors or CSP violations');

    // The browser sends the session cookie on its own; without the token the action is refused.
    const status = await page.evaluate(async () => {
      const r = await fetch('/admin/api/send', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: 'acme', user: 'cy', data: 'forged' }) });
      return r.status;
    });
    assert.equal(status, 403);
    assert.equal(phone.messages().filter((f) => f.data === 'forged').length, 0);
  } finally {
    await browser.close();
  }
});
