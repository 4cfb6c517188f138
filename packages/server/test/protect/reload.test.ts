/** Live configuration: a reload (node.reload, admin action, SIGHUP) applies rate tables and per-tenant overrides without dropping connections; a bad file is refused whole. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHerald } from '../../src/node.js';
import { API_KEY, SECRET, api, connect, publish } from '../helpers/harness.js';
import { scrape } from '../ops/metricsText.js';

const dir = mkdtempSync(join(tmpdir(), 'herald-reload-'));
const file = join(dir, 'herald.json');
const base = { port: 0, host: '127.0.0.1', jwtSecret: SECRET, apiKey: API_KEY, logLevel: 'silent' };
const write = (extra: Record<string, unknown> | string) => writeFileSync(file, typeof extra === 'string' ? extra : JSON.stringify({ ...base, ...extra }));

test('reload applies tables, limits and tenant overrides; connections stay; a bad file keeps the old config', async () => {
  write({});
  const node = await startHerald({}, { configSources: { file } });
  try {
    const c = await connect(node, 'ann', { tenant: 'acme' });
    assert.equal((await c.request({ type: 'join', room: 'r' })).type, 'reply');
    for (let i = 0; i < 3; i++) assert.equal((await publish(node, { to: { room: 'r', tenant: 'acme' }, data: i, event: 'promo.a' })).status, 200);

    // 1. A table and a tenant override, through node.reload (what SIGHUP calls).
    write({ eventRateLimits: { 'promo.*': { perSec: 0.001, burst: 1 } }, tenantOverrides: { acme: { features: { roomPublish: false } }, beta: { eventRateLimits: {} } }, port: 9999 });
    const r = node.reload();
    assert.ok(r.ok);
    assert.deepEqual([...r.changed].sort(), ['eventRateLimits', 'tenantOverrides']);
    assert.deepEqual(r.restartRequired, ['port'], 'non-reloadable keys are reported, not applied');
    assert.equal(node.config.port === 9999, false);
    assert.equal((await publish(node, { to: { room: 'r', tenant: 'acme' }, data: 1, event: 'promo.a' })).status, 200);
    assert.equal((await publish(node, { to: { room: 'r', tenant: 'acme' }, data: 2, event: 'promo.a' })).status, 429);
    // Tenant beta has its own (empty) table: unlimited; acme's client publishes are off.
    for (let i = 0; i < 3; i++) assert.equal((await publish(node, { to: { room: 'r', tenant: 'beta' }, data: i, event: 'promo.a' })).status, 200);
    const off = await c.request({ type: 'publish', room: 'r', data: 1 });
    assert.equal(off.type, 'error');
    assert.equal(off.code, 'room_forbidden');
    assert.equal(c.closed, undefined, 'the connection survived the reload');

    // 2. A file that does not parse, and one with a negative rate: refused whole, old config kept.
    write('{ not json');
    const bad = node.reload();
    assert.equal(bad.ok, false);
    assert.match(bad.ok ? '' : bad.error, /not valid JSON/);
    write({ eventRateLimits: { 'promo.*': { perSec: -5, burst: 1 } }, apiPublishRatePerTenant: 1 });
    const neg = await api(node, 'POST', '/admin/api/reload');
    assert.equal(neg.status, 400);
    assert.equal((neg.body.error as { field: string }).field, 'eventRateLimits');
    assert.equal(node.live.current.eventRateLimits['promo.*']!.burst, 1, 'old table kept');
    assert.equal(node.live.current.apiPublishRatePerTenant, 20_000, 'nothing of the refused file applied');
    write({ shedRecoverPercent: 150 });
    const range = node.reload();
    assert.ok(!range.ok && range.key === 'shedRecoverPercent', 'thresholds out of range are refused with the key named');

    // 3. The admin action applies a good file: the override is lifted, per-tenant limits change.
    write({ tenantOverrides: { acme: { limits: { publishRatePerUser: 1, publishBurstPerUser: 1 } } } });
    const good = await api(node, 'POST', '/admin/api/reload');
    assert.equal(good.status, 200);
    assert.equal((await c.request({ type: 'publish', room: 'r', data: 1 })).type, 'reply');
    const limited = await c.request({ type: 'publish', room: 'r', data: 2 });
    assert.equal(limited.code, 'rate_limited');
    const s = await scrape(node);
    assert.equal(s.value('herald_config_reloads_total', { result: 'applied' }), 2);
    assert.equal(s.value('herald_config_reloads_total', { result: 'refused' }), 3);
    assert.equal(c.closed, undefined);
    c.close();
  } finally {
    await node.close();
  }
});
