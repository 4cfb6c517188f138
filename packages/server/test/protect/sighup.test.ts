/** SIGHUP (FIXED) on `herald serve`: re-reads the config file and applies it without dropping connections; a bad file is refused and logged, the old config kept. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { spawnServe } from '../cli/spawnServe.js';
import { API_KEY, SECRET, TestClient, token, waitUntil } from '../helpers/harness.js';

const dir = mkdtempSync(join(tmpdir(), 'herald-sighup-'));
const file = join(dir, 'herald.json');
const base = { port: 0, host: '127.0.0.1', jwtSecret: SECRET, apiKey: API_KEY, logLevel: 'info' };
const write = (v: unknown) => writeFileSync(file, typeof v === 'string' ? v : JSON.stringify({ ...base, ...(v as object) }));

test('SIGHUP applies a new rate table; a bad file is refused; connections stay', { timeout: 60_000 }, async () => {
  write({});
  const s = await spawnServe(['--config', file], {});
  const url = `http://${s.host}:${s.port}`;
  const pub = async () =>
    (await fetch(url + '/api/v1/publish', { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ to: { room: 'r' }, data: 1, event: 'promo.x' }) })).status;
  try {
    const c = new TestClient(new WebSocket(`ws://${s.host}:${s.port}/ws?token=${await token('ann')}`));
    await c.waitFor((f) => f.type === 'welcome', 5000);
    assert.equal(await pub(), 200);
    assert.equal(await pub(), 200);
    write({ eventRateLimits: { 'promo.*': { perSec: 0.001, burst: 1 } } });
    s.child.kill('SIGHUP');
    await waitUntil(() => (/configuration reloaded/.test(s.out()) ? true : undefined), 10_000, 'reload logged');
    assert.equal(await pub(), 200);
    assert.equal(await pub(), 429);
    write('{ "eventRateLimits": ');
    s.child.kill('SIGHUP');
    await waitUntil(() => (/configuration reload refused/.test(s.out()) ? true : undefined), 10_000, 'refusal logged');
    assert.equal(await pub(), 429, 'the previous table still applies');
    assert.equal(c.closed, undefined, 'the connection survived both signals');
    assert.equal(s.child.exitCode, null, 'still running');
    c.close();
  } finally {
    await s.stop();
  }
});

test('with --workers the primary passes SIGHUP to every worker', { timeout: 60_000 }, async () => {
  write({});
  const s = await spawnServe(['--config', file, '--workers', '2'], {});
  try {
    await waitUntil(() => ((s.out().match(/listening on/g) ?? []).length >= 2 ? true : undefined), 20_000, 'both workers up');
    write({ eventRateLimits: { 'promo.*': { perSec: 1, burst: 1 } } });
    s.child.kill('SIGHUP');
    await waitUntil(() => ((s.out().match(/configuration reloaded/g) ?? []).length >= 2 ? true : undefined), 10_000, 'both workers reloaded');
    assert.equal(s.child.exitCode, null);
  } finally {
    await s.stop();
  }
});
