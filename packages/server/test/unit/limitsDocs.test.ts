/** docs/limits.md names every limit key of the schema and every limit label of the Limiter. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AUTH_FAILURE_REASONS, LIMIT_NAMES } from '../../src/observability/labels.js';

const doc = readFileSync(new URL('../../../../docs/limits.md', import.meta.url), 'utf8');

const LIMIT_KEYS = [
  'maxConnections', 'maxConnectionsPerUser', 'maxPendingAuth', 'maxPreAuthBytes', 'connectRatePerIp', 'connectBurstPerIp', 'trustedProxies',
  'allowedOrigins', 'frameRatePerUser', 'frameBurstPerUser', 'frameRatePerTenant', 'frameBurstPerTenant', 'publishRatePerUser', 'publishBurstPerUser',
  'apiPublishRatePerTenant', 'apiPublishBurstPerTenant', 'httpHeadersTimeoutMs', 'httpRequestTimeoutMs', 'maxFrameBytes', 'maxMessageBytes',
  'maxRoomsPerConnection', 'outboundBufferBytes', 'maxInflight', 'ackMaxAttempts', 'heartbeatMs', 'authTimeoutMs', 'httpMaxBodyBytes', 'batchMaxMessages',
  'inboxMaxMessages', 'inboxMaxAgeSec',
];

test('every limit key is documented in docs/limits.md', () => {
  for (const key of LIMIT_KEYS) assert.ok(doc.includes('`' + key + '`'), key);
});

test('every limit label (herald_limit_rejections_total{limit}) is documented', () => {
  assert.ok(LIMIT_NAMES.length >= 8);
  for (const l of LIMIT_NAMES) assert.ok(doc.includes('`' + l + '`'), l);
});

test('every auth failure reason (herald_auth_failures_total{reason}) is documented in docs/operations.md', () => {
  const ops = readFileSync(new URL('../../../../docs/operations.md', import.meta.url), 'utf8');
  for (const r of AUTH_FAILURE_REASONS) assert.ok(ops.includes('`' + r + '`'), r);
});
