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
