/** docs/limits.md names every limit key of the schema and every limit label of the Limiter. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const doc = readFileSync(new URL('../../../../docs/limits.md', import.meta.url), 'utf8');
const limiterSrc = readFileSync(new URL('../../src/limits/limiter.ts', import.meta.url), 'utf8');

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

test('every limit label the Limiter counts is documented', () => {
  const union = /export type LimitName =([\s\S]*?);/.exec(limiterSrc)![1]!;
  const labels = [...union.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!);
  assert.ok(labels.length >= 8);
  for (const l of labels) assert.ok(doc.includes('`' + l + '`'), l);
});
