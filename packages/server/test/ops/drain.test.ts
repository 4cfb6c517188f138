/**
 * Graceful drain of a real server process (issue 8): SIGTERM under load.
 *   - /readyz answers 503 (draining) and publishes answer 503 `draining`;
 *   - every client is closed 1001, in waves, within drainWindowMs (+ slack);
 *   - every reliable message answered 200 reached its device before the 1001;
 *   - the process exits 0.
 * The memory engine loses inboxes with the process, so "no loss" here means
 * nothing answered 200 is left undelivered to a connected device.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HeraldNode } from '../../src/node.js';
import { API_KEY, SECRET, connect, waitUntil, type TestClient } from '../helpers/harness.js';
import { scrape } from './metricsText.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../../../..');
const DRAIN_WINDOW_MS = 1000;
/** Generous: slow CI machines, the close handshake, and process scheduling. */
const SLACK_MS = 4000;
const CLIENTS = 40;

let proc: ChildProcess | undefined;

before(() => {
  const built = spawnSync('npx', ['tsc', '-b', 'packages/protocol', 'packages/server'], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(built.status, 0, `build failed: ${built.stdout}${built.stderr}`);
});

after(() => {
  if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Sent {
  user: string;
  status: number;
  code?: string;
  id?: string;
  afterSignal: boolean;
}

test('SIGTERM under load: readyz 503, publishes 503 draining, clients closed 1001 in waves within the window, nothing answered 200 undelivered, exit 0', async (t) => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logs: string[] = [];
  proc = spawn(process.execPath, [join(repoRoot, 'packages/server/bin/herald.js'), 'serve'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      HERALD_PORT: String(port),
      HERALD_HOST: '127.0.0.1',
      HERALD_JWT_SECRET: SECRET,
      HERALD_API_KEY: API_KEY,
      HERALD_DRAIN_WINDOW_MS: String(DRAIN_WINDOW_MS),
      HERALD_SHUTDOWN_TIMEOUT_MS: '10000',
      HERALD_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child = proc;
  child.stdout!.on('data', (b: Buffer) => logs.push(b.toString()));
  child.stderr!.on('data', (b: Buffer) => logs.push(b.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  await waitUntil(() => logs.join('').includes('herald listening'), 15_000, 'the server to listen');
  const node = { url } as HeraldNode; // the harness only needs the URL

  const clients = new Map<string, TestClient>();
  for (let i = 0; i < CLIENTS; i++) {
    const user = `u${i}`;
    clients.set(user, await connect(node, user, { device: 'd' }));
  }
  const closedAt = new Map<string, number>();
  for (const [user, c] of clients) c.ws.on('close', () => closedAt.set(user, Date.now()));

  // Load: four publishers, reliable messages round-robin over the users, until the server is gone.
  const sent: Sent[] = [];
  let signalled = false;
  let stop = false;
  let k = 0;
  const publisher = async (): Promise<void> => {
    while (!stop) {
      const user = `u${k++ % CLIENTS}`;
      const afterSignal = signalled;
      try {
        const res = await fetch(url + '/api/v1/publish', {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ to: { user, device: 'd' }, data: { k } }),
        });
        const body = (await res.json()) as { id?: string; error?: { code: string } };
        sent.push({ user, status: res.status, afterSignal, ...(body.id ? { id: body.id } : {}), ...(body.error ? { code: body.error.code } : {}) });
      } catch {
        return; // the server closed its port: done
      }
    }
  };
  const loops = [publisher(), publisher(), publisher(), publisher()];
  await waitUntil(() => sent.filter((s) => s.status === 200).length >= 200 || undefined, 15_000, '200 accepted publishes');

  // Watch readiness and the draining gauge during the drain.
  const ready: number[] = [];
  let drainingGauge = 0;
  const watcher = (async () => {
    while (!stop) {
      try {
        const r = await fetch(url + '/readyz');
        ready.push(r.status);
        await r.arrayBuffer();
        if (r.status === 503) drainingGauge = Math.max(drainingGauge, (await scrape(node)).value('herald_draining'));
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  const t0 = Date.now();
  signalled = true;
  child.kill('SIGTERM');

  await Promise.all([...clients.values()].map((c) => c.waitClosed(DRAIN_WINDOW_MS + SLACK_MS + 5000)));
  const exit = await Promise.race([exited, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no exit within 15 s')), 15_000).unref())]);
  stop = true;
  await Promise.all([...loops, watcher]);

  assert.equal(exit.code, 0, `exit code (logs: ${logs.join('').slice(-2000)})`);

  // Every client closed 1001, within the window (+ slack), and in waves rather than all at once.
  for (const [user, c] of clients) {
    assert.equal(c.closed?.code, 1001, `${user} closed with ${c.closed?.code}`);
    assert.ok(closedAt.get(user)! - t0 <= DRAIN_WINDOW_MS + SLACK_MS, `${user} closed ${closedAt.get(user)! - t0} ms after SIGTERM`);
  }
  const times = [...closedAt.values()];
  assert.ok(Math.max(...times) - Math.min(...times) >= DRAIN_WINDOW_MS * 0.3, `closes spread over ${Math.max(...times) - Math.min(...times)} ms: waves, not one burst`);

  // Readiness went 503 while draining.
  assert.ok(ready.includes(503), `readyz statuses seen: ${[...new Set(ready)].join(',')}`);
  assert.equal(drainingGauge, 1, 'herald_draining was 1 during the drain');

  // Publishes during the drain were refused with 503 draining; nothing else failed.
  const refused = sent.filter((s) => s.status === 503);
  assert.ok(refused.length > 0, 'some publishes landed during the drain');
  for (const s of refused) assert.equal(s.code, 'draining');
  for (const s of sent) assert.ok(s.status === 200 || s.status === 503, `unexpected status ${s.status}`);
  assert.ok(refused.every((s) => s.afterSignal), 'nothing refused before the signal');

  // No loss: each message answered 200 was delivered to its device before the 1001 close.
  const accepted = sent.filter((s) => s.status === 200);
  for (const s of accepted) {
    const got = clients.get(s.user)!.messages().some((m) => m.id === s.id);
    assert.ok(got, `message ${s.id} to ${s.user} (answered 200${s.afterSignal ? ' after the signal' : ''}) was not delivered`);
  }
  t.diagnostic(
    `publishes: ${accepted.length} answered 200 (${accepted.filter((s) => s.afterSignal).length} after SIGTERM), ${refused.length} refused 503 draining; ` +
      `closes from ${Math.min(...times) - t0} ms to ${Math.max(...times) - t0} ms after SIGTERM (window ${DRAIN_WINDOW_MS} ms)`,
  );
  assert.match(logs.join(''), /"msg":"draining"/);
  assert.match(logs.join(''), /"msg":"herald stopped"/);
});
