import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeraldProcess, type ClusterSettings } from '../src/cluster.js';

const settings: ClusterSettings = { jwtSecret: 's', apiKey: 'k', redisUrl: 'redis://127.0.0.1:6379', prefix: 'p:', env: {} };

test('a single-process node hosts the connections that name its id, and only those', () => {
  const n = new HeraldProcess('stress-a', 1, settings, 0);
  assert.equal(n.hosts('stress-a'), true);
  assert.equal(n.hosts('stress-a-w0'), false);
  assert.equal(n.hosts('stress-b'), false);
  assert.equal(n.hosts(undefined), false);
});

test('a workers node hosts the connections of its workers (`<id>-w<slot>`), not its bare id nor a look-alike', () => {
  const n = new HeraldProcess('stress-b', 1, settings, 2);
  assert.equal(n.hosts('stress-b-w0'), true);
  assert.equal(n.hosts('stress-b-w1'), true);
  assert.equal(n.hosts('stress-b'), false);
  assert.equal(n.hosts('stress-b-wx'), false);
  assert.equal(n.hosts('stress-b-w'), false);
  assert.equal(n.hosts('stress-bb-w0'), false);
});
