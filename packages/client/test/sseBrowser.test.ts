/**
 * In headless Chromium against the real server:
 * - a page with the browser's own EventSource on GET /sse receives reliable
 *   messages (with `lastEventId` = seq) and acks them with POST /sse/ack;
 * - the SDK with `transports: ['sse']` runs over EventSource;
 * - three tabs with `shared: true` hold one server connection, every tab
 *   gets each message once, and closing the leader tab loses nothing.
 * Skipped only when /usr/bin/chromium is missing outside CI (as browser.test.ts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { waitUntil } from '@herald/testkit';
import { publish, startServer, token, type HeraldNode } from './helpers/realServer.js';

const CHROMIUM = '/usr/bin/chromium';
const here = dirname(fileURLToPath(import.meta.url));
const inCI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';
const haveChromium = existsSync(CHROMIUM);
const skip = !haveChromium && !inCI ? `Chromium not found at ${CHROMIUM}` : false;

let browser: Browser | undefined;
let node: HeraldNode | undefined;

before(async () => {
  if (!haveChromium) {
    if (inCI) throw new Error(`browser tests must run in CI but Chromium is missing at ${CHROMIUM}`);
    return;
  }
  const built = spawnSync(process.execPath, [join(here, '../scripts/bundle.mjs')], { encoding: 'utf8' });
  assert.equal(built.status, 0, `bundle build failed: ${built.stderr}`);
  node = await startServer({ heartbeatMs: 5000 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});

after(async () => {
  await browser?.close();
  await node?.close();
});

test('a browser EventSource receives reliable messages with lastEventId = seq and acks them by POST', { skip }, async () => {
  const ctx = await browser!.newContext();
  const page = await ctx.newPage();
  await page.goto(`${node!.url}/healthz`);
  const tok = await token(node!, 'es', { device: 'tab' });
  await page.evaluate((t) => {
    const w = window as unknown as { got: { seq: number; id: string; data: unknown }[]; welcome: unknown };
    w.got = [];
    const es = new EventSource(`/sse?device=tab&token=${t}`);
    es.addEventListener('welcome', (e) => (w.welcome = JSON.parse((e as MessageEvent).data)));
    es.addEventListener('message', (e) => {
      const m = e as MessageEvent;
      const f = JSON.parse(m.data) as { seq: number; data: unknown };
      w.got.push({ seq: f.seq, id: m.lastEventId, data: f.data });
      void fetch('/sse/ack', { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: JSON.stringify({ device: 'tab', seq: f.seq }) });
    });
  }, tok);
  await page.waitForFunction(() => (window as unknown as { welcome?: unknown }).welcome !== undefined, undefined, { timeout: 10_000 });
  for (let i = 1; i <= 5; i++) await publish(node!, { to: { user: 'es' }, data: { i } });
  await page.waitForFunction(() => (window as unknown as { got: unknown[] }).got.length === 5, undefined, { timeout: 10_000 });
  const got = await page.evaluate(() => (window as unknown as { got: { seq: number; id: string; data: unknown }[] }).got);
  assert.deepEqual(
    got.map((g) => [g.seq, g.id]),
    [1, 2, 3, 4, 5].map((s) => [s, String(s)]),
  );
  await waitUntil(async () => ((await node!.engine.getCursor('default', 'es', 'tab')) === 5 ? true : undefined), 5000, 'acked to 5');
  await ctx.close();
});

async function sdkPage(page: Page, tok: string, options: Record<string, unknown>): Promise<void> {
  await page.goto(`${node!.url}/healthz`);
  await page.evaluate(
    async ({ t, o }) => {
      const { HeraldClient } = (await import('/demo/sdk/herald-client.js' as string)) as { HeraldClient: new (o: unknown) => { connect(): Promise<unknown>; on(e: string, f: (m: { seq?: number; data: unknown }) => void): void; state: string } };
      const w = window as unknown as { msgs: unknown[]; client: unknown };
      w.msgs = [];
      const c = new HeraldClient({ url: '/ws', token: t, minReconnectDelayMs: 20, maxReconnectDelayMs: 200, ...o });
      c.on('message', (m) => w.msgs.push(m.data));
      w.client = c;
      void c.connect().catch(() => undefined);
    },
    { t: tok, o: options },
  );
}

/** `n` tabs of one browser context, each with an SDK client `shared: true` on device `desk`, each connected. */
async function sharedTabs(ctx: BrowserContext, tok: string, n: number): Promise<Page[]> {
  const tabs: Page[] = [];
  for (let i = 0; i < n; i++) {
    const p = await ctx.newPage();
    await sdkPage(p, tok, { shared: true, device: 'desk' });
    await p.waitForFunction(() => (window as unknown as { client: { state: string } }).client.state === 'connected', undefined, { timeout: 15_000 });
    tabs.push(p);
  }
  return tabs;
}

/** The server's connections of `user` (a shared group holds one). */
const userConnections = (user: string): number => [...node!.gateway.registry.all()].filter((s) => s.user === user).length;

const msgs = (p: Page): Promise<unknown[]> => p.evaluate(() => (window as unknown as { msgs: unknown[] }).msgs);

test('the SDK with transports: [sse] runs over the browser EventSource', { skip }, async () => {
  const ctx = await browser!.newContext();
  const page = await ctx.newPage();
  await sdkPage(page, await token(node!, 'sdk-sse'), { transports: ['sse'], device: 'b' });
  await page.waitForFunction(() => (window as unknown as { client: { state: string } }).client.state === 'connected', undefined, { timeout: 10_000 });
  for (let i = 1; i <= 3; i++) await publish(node!, { to: { user: 'sdk-sse' }, data: i });
  await page.waitForFunction(() => (window as unknown as { msgs: unknown[] }).msgs.length === 3, undefined, { timeout: 10_000 });
  assert.deepEqual(await msgs(page), [1, 2, 3]);
  await waitUntil(async () => ((await node!.engine.getCursor('default', 'sdk-sse', 'b')) === 3 ? true : undefined), 5000, 'acked');
  await ctx.close();
});

test('three tabs with shared: true hold one connection; each tab gets every message once; closing the leader tab loses nothing', { skip }, async () => {
  const ctx = await browser!.newContext();
  const user = 'tabs';
  const tok = await token(node!, user);
  const connections = (): number => userConnections(user);
  const tabs = await sharedTabs(ctx, tok, 3);
  assert.equal(connections(), 1, 'one server connection for three tabs');
  let n = 0;
  const send = async (k: number): Promise<void> => {
    for (let i = 0; i < k; i++) await publish(node!, { to: { user }, data: ++n });
  };
  await send(10);
  for (const p of tabs) await p.waitForFunction((k) => (window as unknown as { msgs: unknown[] }).msgs.length >= k, 10, { timeout: 10_000 });
  for (const p of tabs) assert.deepEqual(await msgs(p), Array.from({ length: 10 }, (_, i) => i + 1));

  // A follower's request goes through the leader; its reply comes back to that tab; presence events reach every tab.
  for (const p of tabs) await p.evaluate(() => {
    const w = window as unknown as { presence: unknown[]; client: { on(e: string, f: (x: unknown) => void): void } };
    w.presence = [];
    w.client.on('presence', (e) => w.presence.push(e));
  });
  const reply = await tabs[1]!.evaluate(async () => (window as unknown as { client: { join(r: string): Promise<{ ok: boolean }> } }).client.join('hall'));
  assert.equal(reply.ok, true);
  const other = await token(node!, 'visitor');
  await tabs[2]!.evaluate(async (t) => {
    const ws = new WebSocket(`/ws?token=${t}`.replace(/^/, location.origin.replace(/^http/, 'ws')));
    await new Promise((r) => ws.addEventListener('message', r, { once: true }));
    ws.send(JSON.stringify({ type: 'join', room: 'hall' }));
  }, other);
  for (const p of tabs) await p.waitForFunction(() => (window as unknown as { presence: { user: string }[] }).presence.some((e) => e.user === 'visitor'), undefined, { timeout: 10_000 });

  // The first tab got the lock first: it leads. Close it while messages keep coming.
  const sending = send(10);
  await tabs[0]!.close({ runBeforeUnload: false });
  await sending;
  await send(5);
  const rest = tabs.slice(1);
  for (const p of rest) {
    await p.waitForFunction((k) => (window as unknown as { msgs: unknown[] }).msgs.length >= k, 25, { timeout: 20_000 }).catch(async (err: unknown) => {
      const states = await Promise.all(rest.map((t) => t.evaluate(() => ({ msgs: (window as unknown as { msgs: unknown[] }).msgs, state: (window as unknown as { client: { state: string } }).client.state }))));
      throw new Error(`${(err as Error).message}; tabs: ${JSON.stringify(states)}; server connections: ${connections()}`);
    });
  }
  for (const p of rest) assert.deepEqual(await msgs(p), Array.from({ length: 25 }, (_, i) => i + 1), 'every message once, in order, across the hand-over');
  await waitUntil(() => (connections() === 1 ? true : undefined), 10_000, 'one connection again');
  await ctx.close();
});

test('shared: true — the app closes the leader tab\'s client: neither other tab stops; one leads, both get every message', { skip }, async () => {
  const ctx = await browser!.newContext();
  const user = 'tabs-close';
  const tok = await token(node!, user);
  const connections = (): number => userConnections(user);
  const state = (p: Page): Promise<string> => p.evaluate(() => (window as unknown as { client: { state: string } }).client.state);
  const tabs = await sharedTabs(ctx, tok, 3);
  assert.equal(connections(), 1);
  // The first tab leads. Its app closes the client (1000). The tab that takes the lead reconnects; the
  // close of the old connection reaches the third tab, still a follower, and must not stop it.
  await tabs[0]!.evaluate(() => (window as unknown as { client: { close(): void } }).client.close());
  assert.equal(await state(tabs[0]!), 'closed');
  const rest = tabs.slice(1);
  await waitUntil(() => (connections() === 1 ? true : undefined), 10_000, 'another tab holds the connection');
  for (let i = 1; i <= 5; i++) await publish(node!, { to: { user }, data: i });
  for (const p of rest) {
    await p.waitForFunction(() => (window as unknown as { msgs: unknown[] }).msgs.length >= 5, undefined, { timeout: 10_000 }).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}; the other tabs are ${JSON.stringify(await Promise.all(rest.map(state)))}`);
    });
    assert.deepEqual(await msgs(p), [1, 2, 3, 4, 5]);
    assert.equal(await state(p), 'connected');
  }
  await ctx.close();
});
