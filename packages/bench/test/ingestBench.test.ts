/**
 * The ingest benchmark end to end with small counts: a real Herald node (child
 * process, Redis engine), the HTTP API, the Redis stream, RabbitMQ, NATS
 * JetStream and a PostgreSQL outbox. Counts
 * must be exact (every entry delivered, one latency value each); timings are
 * never asserted. Needs the built server (npm run build) like the other bench tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ingestBench } from '../src/ingestBench.js';

test('every source delivers every entry of both phases, one latency value each', { timeout: 120_000 }, async () => {
  const results = await ingestBench({
    entries: 60,
    users: 4,
    rate: 40,
    pacedSec: 1,
    amqpConcurrency: 4,
    amqpPrefetch: 16,
    natsConcurrency: 4,
    pgConcurrency: 4,
    httpInFlight: 8,
    sources: ['http', 'redis', 'amqp', 'nats', 'pg'],
    redisUrl: process.env.HERALD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    amqpUrl: process.env.HERALD_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    natsUrl: process.env.HERALD_TEST_NATS_URL ?? 'nats://127.0.0.1:4222',
    pgUrl: process.env.HERALD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  });
  assert.deepEqual(
    results.map((r) => [r.source, r.mode, r.delivered, r.latency.count]),
    [
      ['http', 'burst', 60, 60],
      ['http', 'paced', 40, 40],
      ['redis', 'burst', 60, 60],
      ['redis', 'paced', 40, 40],
      ['amqp', 'burst', 60, 60],
      ['amqp', 'paced', 40, 40],
      ['nats', 'burst', 60, 60],
      ['nats', 'paced', 40, 40],
      ['pg', 'burst', 60, 60],
      ['pg', 'paced', 40, 40],
    ],
  );
});
