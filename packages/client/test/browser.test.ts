/**
 * The demo page in headless Chromium against the real server: two pages chat
 * and see each other's presence; a page that goes offline gets its reliable
 * messages once each and in order when it comes back. Saves a screenshot of the
 * demo to artifacts/screenshots/demo.png.
 *
 * In CI (CI=true) these tests must run: a missing Chromium fails them loudly.
 * Elsewhere they are skipped only when /usr/bin/chromium does not exist.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { publish, startServer, token, type HeraldNode } from './helpers/realServer.js';

const CHROMIUM = '/usr/bin/chromium';
const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../../..');
const screenshot = join(repoRoot, 'artifacts/screenshots/demo.png');
// Any CI value but an explicit false counts: some CI systems set CI=1.
const inCI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';
const haveChromium = existsSync(CHROMIUM);
const skip = !haveChromium && !inCI ? `Chromium not found at ${CHROMIUM} (apt-get install -y chromium)` : false;

let browser: Browser | undefined;
let node: HeraldNode | undefined;

before(async () => {
  if (!haveChromium) {
    if (inCI) throw new Error(`browser tests must run in CI but Chromium is missing at ${CHROMIUM}: install it with "apt-get install -y chromium"`);
    return;
  }
  // The server serves /demo/sdk/ from dist/browser: build the bundle the page imports.
  const built = spawnSync(process.execPath, [join(here, '../scripts/bundle.mjs')], { encoding: 'utf8' });
  assert.equal(built.status, 0, `bundle build failed: ${built.stderr}`);
  // Heartbeat 5 s: a socket whose close frame Chromium's offline emulation
  // swallowed is still noticed by the server's heartbeat (2 × 5 s), well within
  // the offline test's 20 s bound, instead of after the default 50 s.
  node = await startServer({ heartbeatMs: 5000 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});

after(async () => {
  await browser?.close();
  await node?.close();
});

async function openDemo(name: string, room = 'lobby'): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${node!.url}/demo/`);
  await page.fill('#name', name);
  await page.fill('#room', room);
  await page.click('#connect');
  await page.waitForSelector('#status[data-state="connected"]', { timeout: 10_000 });
  await page.waitForSelector(`#presence-list li[data-user="${name}"]`, { timeout: 10_000 });
  assert.deepEqual(errors, [], 'no script errors on the page');
  return { context, page };
}

async function inbox(page: Page): Promise<{ seq: number; text: string }[]> {
  return page.$$eval('#inbox li', (items) =>
    items.map((li) => ({ seq: Number((li as HTMLElement).dataset.seq), text: li.querySelector('.body')?.textContent ?? '' })),
  );
}

function waitForInbox(page: Page, n: number): Promise<unknown> {
  return page.waitForFunction((count) => document.querySelectorAll('#inbox li').length >= count, n, { timeout: 10_000 });
}

async function userOnline(user: string): Promise<boolean> {
  const res = await fetch(`${node!.url}/api/v1/users/${user}/presence`, { headers: { authorization: `Bearer ${node!.config.apiKey}` } });
  const body = (await res.json()) as { online: boolean };
  return body.online;
}

test('two pages chat in a room and see each other’s presence (screenshot saved)', { skip }, async () => {
  const alice = await openDemo('alice');
  const bob = await openDemo('bob');
  try {
    await alice.page.waitForSelector('#presence-list li[data-user="bob"]', { timeout: 10_000 });
    await bob.page.waitForSelector('#presence-list li[data-user="alice"]', { timeout: 10_000 });

    await alice.page.fill('#text', 'hello bob');
    await alice.page.click('#send');
    const got = await bob.page.waitForSelector('#messages li[data-from="alice"] .body', { timeout: 10_000 });
    assert.equal(await got.textContent(), 'hello bob');
    await bob.page.fill('#text', 'hi alice!');
    await bob.page.press('#text', 'Enter');
    const reply = await alice.page.waitForSelector('#messages li[data-from="bob"] .body', { timeout: 10_000 });
    assert.equal(await reply.textContent(), 'hi alice!');
    // Alice's own message is rendered once, from the server's echo.
    assert.equal(await alice.page.locator('#messages li[data-from="alice"]').count(), 1);

    // A reliable direct message, so the screenshot shows the inbox too.
    assert.equal((await publish(node!, { to: { user: 'alice' }, data: { text: 'Order #1042 is ready for pickup' }, event: 'order' })).status, 200);
    await waitForInbox(alice.page, 1);
    assert.deepEqual(
      (await inbox(alice.page)).map((i) => i.text),
      ['Order #1042 is ready for pickup'],
    );

    mkdirSync(dirname(screenshot), { recursive: true });
    await alice.page.screenshot({ path: screenshot, fullPage: true });
    assert.ok(existsSync(screenshot));

    // Bob closes his tab: Alice sees him leave.
    await bob.context.close();
    await alice.page.waitForSelector('#presence-list li[data-user="bob"]', { state: 'detached', timeout: 10_000 });
  } finally {
    await alice.context.close();
    await bob.context.close().catch(() => {});
  }
});

test('a page that goes offline gets its reliable messages once each, in order, when it returns', { skip }, async () => {
  const carol = await openDemo('carol');
  try {
    const { page, context } = carol;
    assert.equal((await publish(node!, { to: { user: 'carol' }, data: { text: 'before' } })).status, 200);
    await waitForInbox(page, 1);

    // Offline: the network is gone and the socket with it.
    await context.setOffline(true);
    await page.click('#drop');
    await page.waitForSelector('#status[data-state="reconnecting"]', { timeout: 10_000 });
    // The server must have noticed, or the publishes below would not test the offline path.
    const deadline = Date.now() + 20_000;
    while (await userOnline('carol')) {
      assert.ok(Date.now() < deadline, 'the server still sees carol online 20 s after her socket closed');
      await new Promise((r) => setTimeout(r, 20));
    }
    for (let i = 1; i <= 5; i++) {
      const res = await publish(node!, { to: { user: 'carol' }, data: { text: `offline ${i}` } });
      assert.equal(res.status, 200);
      assert.equal(res.body.online, 0, 'published while carol is offline');
    }

    await context.setOffline(false);
    await page.waitForSelector('#status[data-state="connected"]', { timeout: 15_000 });
    await waitForInbox(page, 6);
    // One more live message: delivery is in order, so any duplicate of the replay would land before it.
    await publish(node!, { to: { user: 'carol' }, data: { text: 'after' } });
    await waitForInbox(page, 7);
    const items = await inbox(page);
    assert.deepEqual(
      items.map((i) => i.text),
      ['before', 'offline 1', 'offline 2', 'offline 3', 'offline 4', 'offline 5', 'after'],
    );
    const seqs = items.map((i) => i.seq);
    for (let k = 1; k < seqs.length; k++) assert.ok(seqs[k]! > seqs[k - 1]!, `seqs strictly increase: ${seqs.join(',')}`);

    // A reload resumes from the seq persisted in localStorage: nothing is replayed twice.
    await page.reload();
    await page.fill('#name', 'carol');
    await page.click('#connect');
    await page.waitForSelector('#status[data-state="connected"]', { timeout: 10_000 });
    await publish(node!, { to: { user: 'carol' }, data: { text: 'after reload' } });
    await waitForInbox(page, 1);
    assert.deepEqual(
      (await inbox(page)).map((i) => i.text),
      ['after reload'],
    );
  } finally {
    await carol.context.close();
  }
});

test('the bundle speaks the binary protocol in Chromium: deflate negotiated, messages in order, acked and resumed', { skip }, async () => {
  const context = await browser!.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(`${node!.url}/demo/`);
    const tok = await token(node!, 'zoe', { device: 'bin-tab' });
    const welcome = await page.evaluate(async (jwt) => {
      const { HeraldClient } = (await import('/demo/sdk/herald-client.js' as string)) as typeof import('../src/index.js');
      const w = window as unknown as { herald: InstanceType<typeof HeraldClient>; got: unknown[]; errs: string[] };
      w.got = [];
      w.errs = [];
      w.herald = new HeraldClient({ url: '/ws', token: jwt, device: 'bin-tab', protocol: 'binary' });
      w.herald.on('message', (m) => w.got.push({ seq: m.seq, data: m.data }));
      w.herald.on('error', (e) => w.errs.push(`${e.code}: ${e.message}`));
      return (await w.herald.connect()) as unknown as Record<string, unknown>;
    }, tok);
    assert.equal(welcome.compression, 'deflate', 'Chromium has CompressionStream("deflate-raw"): deflate negotiated');
    assert.equal(welcome.user, 'zoe');

    const big = { lines: Array.from({ length: 400 }, (_, i) => ({ sku: `SKU-${i % 17}`, name: 'Flat white', qty: 1 + (i % 3) })) };
    // A big (deflated) message followed by small (plain) ones: delivered in order.
    assert.equal((await publish(node!, { to: { user: 'zoe' }, data: big })).status, 200);
    for (let i = 1; i <= 3; i++) assert.equal((await publish(node!, { to: { user: 'zoe' }, data: { i } })).status, 200);
    await page.waitForFunction(() => (window as unknown as { got: unknown[] }).got.length >= 4, undefined, { timeout: 10_000 });
    const got = await page.evaluate(() => (window as unknown as { got: { seq: number; data: unknown }[] }).got);
    assert.deepEqual(
      got.map((m) => m.data),
      [big, { i: 1 }, { i: 2 }, { i: 3 }],
    );
    for (let k = 1; k < got.length; k++) assert.ok(got[k]!.seq > got[k - 1]!.seq);

    // Acked over v2: after a reconnect the server resumes after the last one, nothing is replayed.
    const lastSeq = got[3]!.seq;
    const resumed = await page.evaluate(async () => {
      const w = window as unknown as { herald: { reconnect(): void; once(e: string, f: (w: { last_seq: number }) => void): void } };
      const next = new Promise<number>((resolve) => w.herald.once('connected', (welcome) => resolve(welcome.last_seq)));
      w.herald.reconnect();
      return next;
    });
    assert.equal(resumed, lastSeq);
    assert.equal((await publish(node!, { to: { user: 'zoe' }, data: { i: 4 } })).status, 200);
    await page.waitForFunction(() => (window as unknown as { got: unknown[] }).got.length >= 5, undefined, { timeout: 10_000 });
    const all = await page.evaluate(() => (window as unknown as { got: { data: unknown }[] }).got.map((m) => m.data));
    assert.deepEqual(all.slice(4), [{ i: 4 }]);
    assert.deepEqual(await page.evaluate(() => (window as unknown as { errs: string[] }).errs), []);
    assert.deepEqual(errors, [], 'no script errors on the page');
  } finally {
    await page.evaluate(() => (window as unknown as { herald?: { close(): void } }).herald?.close()).catch(() => {});
    await context.close();
  }
});
