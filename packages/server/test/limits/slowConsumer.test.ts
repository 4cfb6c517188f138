/**
 * A client that stops reading while 100 MB is published to it: the server
 * closes it 4009 once its outbound buffer passes the limit, and the server's
 * memory stays bounded. The server runs as its own process so its RSS is
 * measured alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import type { Socket } from 'node:net';
import { API_KEY, SECRET, token, waitUntil } from '../helpers/harness.js';

const BIN = fileURLToPath(new URL('../../bin/herald.js', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(/(\d+)/.exec(line)![1]) / 1024;
}

test('a client that stops reading while 100 MB is published leaves server memory bounded (4009)', async () => {
  const port = await freePort();
  const env = { ...process.env, HERALD_PORT: String(port), HERALD_HOST: '127.0.0.1', HERALD_JWT_SECRET: SECRET, HERALD_API_KEY: API_KEY, HERALD_LOG_LEVEL: 'warn', HERALD_OUTBOUND_BUFFER_BYTES: String(4 * 1024 * 1024), HERALD_API_PUBLISH_RATE_PER_TENANT: '0' };
  const child = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  try {
    let up = false;
    const deadline = Date.now() + 15_000;
    while (!up && Date.now() < deadline) {
      up = await fetch(base + '/readyz').then((r) => r.ok, () => false);
      if (!up) await new Promise((r) => setTimeout(r, 50)); // polling interval while the process boots
    }
    assert.ok(up, 'server ready');

    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${await token('stalled')}`);
    let welcomed = false;
    ws.on('message', () => {
      if (welcomed) return;
      welcomed = true;
      // Stop reading: the kernel buffers fill, then the server's outbound buffer grows.
      ((ws as unknown as { _socket: Socket })._socket).pause();
    });
    await waitUntil(() => welcomed || undefined, 5000, 'welcome');
    const before = rssMiB(child.pid!);

    const chunk = 'x'.repeat(64 * 1024 - 16);
    const total = 1600; // 1600 × 64 KiB = 100 MiB
    let sent = 0;
    let peak = before;
    const worker = async (): Promise<void> => {
      while (sent < total) {
        sent++;
        const r = await fetch(base + '/api/v1/publish', {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ to: { user: 'stalled' }, data: chunk, reliable: false }),
        });
        assert.equal(r.status, 200);
        await r.arrayBuffer();
        if (sent % 100 === 0) peak = Math.max(peak, rssMiB(child.pid!));
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    peak = Math.max(peak, rssMiB(child.pid!));
    // The slow consumer is dropped within its grace period after the close.
    const closedAs4009 = async (): Promise<boolean> => /herald_disconnects_total\{code="4009"/.test(await (await fetch(base + '/metrics')).text());
    const until = Date.now() + 10_000;
    let closed = false;
    while (!closed && Date.now() < until) {
      closed = await closedAs4009();
      if (!closed) await new Promise((r) => setTimeout(r, 100)); // polling interval
    }
    assert.ok(closed, 'the stalled client was closed as a slow consumer (4009)');
    process.stdout.write(`# slow consumer: server RSS ${Math.round(before)} MiB before, peak ${Math.round(peak)} MiB while 100 MiB was published\n`);
    // 100 MiB went through the API; the server held at most a few buffers of it.
    assert.ok(peak - before < 60, `server RSS grew ${Math.round(peak - before)} MiB (from ${Math.round(before)} MiB) while 100 MiB was published`);
    ws.terminate();
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});
