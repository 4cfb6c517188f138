/** The limiter reads the live configuration: a reload keeps the state of limits it did not change and applies changed ones (and tenant overrides) at the next call. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.js';
import { LiveConfig } from '../../src/config/live.js';
import { Limiter } from '../../src/limits/limiter.js';
import { Stats } from '../../src/observability/stats.js';

test('unchanged limits keep their buckets across a reload; changed ones and overrides apply at once', () => {
  const live = new LiveConfig(loadConfig({ overrides: { publishRatePerUser: 1, publishBurstPerUser: 2, frameRatePerUser: 1, frameBurstPerUser: 1 } }));
  const l = new Limiter(live, new Stats());
  assert.equal(l.clientPublish('t', 'u'), true);
  assert.equal(l.clientPublish('t', 'u'), true);
  assert.equal(l.clientPublish('t', 'u'), false, 'burst of 2 spent');
  assert.equal(l.clientFrame('t', 'u'), undefined);
  assert.equal(l.clientFrame('t', 'u'), 'frames_per_user');
  // Reload: the publish rate is unchanged (its spent bucket stays spent), the frame burst grows.
  const r = live.apply(loadConfig({ overrides: { publishRatePerUser: 1, publishBurstPerUser: 2, frameRatePerUser: 1, frameBurstPerUser: 5, tenantOverrides: { vip: { limits: { publishBurstPerUser: 10 } } } } }));
  assert.ok(r.ok);
  assert.deepEqual([...r.changed].sort(), ['frameBurstPerUser', 'tenantOverrides']);
  assert.equal(l.clientPublish('t', 'u'), false, 'unchanged limit kept its state');
  assert.equal(l.clientFrame('t', 'u'), undefined, 'changed limit starts afresh');
  for (let i = 0; i < 10; i++) assert.equal(l.clientPublish('vip', 'u'), true, `vip publish ${i}`);
  assert.equal(l.clientPublish('vip', 'u'), false);
  assert.equal(l.maxConnectionsPerUser('vip'), 20, 'not overridden: the global value');
});

test('the per-address connect rate: kept across a reload that does not change it, applied at once when it does', () => {
  const live = new LiveConfig(loadConfig({ overrides: { connectRatePerIp: 1, connectBurstPerIp: 2 } }));
  const l = new Limiter(live, new Stats());
  assert.equal(l.connectFromIp('10.0.0.1'), 0);
  assert.equal(l.connectFromIp('10.0.0.1'), 0);
  assert.ok(l.connectFromIp('10.0.0.1') > 0, 'burst of 2 spent');
  assert.equal(l.connectFromIp('10.0.0.2'), 0, 'another address has its own bucket');
  // A reload of something else: the spent bucket stays spent.
  assert.ok(live.apply(loadConfig({ overrides: { connectRatePerIp: 1, connectBurstPerIp: 2, frameBurstPerUser: 5 } })).ok);
  assert.ok(l.connectFromIp('10.0.0.1') > 0, 'unchanged limit kept its state');
  // The burst grows: a fresh bucket of 4.
  assert.ok(live.apply(loadConfig({ overrides: { connectRatePerIp: 1, connectBurstPerIp: 4 } })).ok);
  for (let i = 0; i < 4; i++) assert.equal(l.connectFromIp('10.0.0.1'), 0, `connect ${i} after the reload`);
  assert.ok(l.connectFromIp('10.0.0.1') > 0);
  // Off (0): never refused.
  assert.ok(live.apply(loadConfig({ overrides: { connectRatePerIp: 0, connectBurstPerIp: 4 } })).ok);
  for (let i = 0; i < 10; i++) assert.equal(l.connectFromIp('10.0.0.1'), 0);
});
