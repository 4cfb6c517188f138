/**
 * A start-up that fails after connections were opened (here: the Redis engine is up, the NATS
 * ingest source's broker refuses) ends the process with exit 1 and the reason on stderr — it must
 * not stay alive, held by those connections, serving nothing.
 */
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitUntil } from '../helpers/harness.js';
import { deleteKeys, freePort, sharedRedis, testPrefix } from '../helpers/redisServer.js';
import { BIN, cleanEnv } from './spawnServe.js';

test('herald serve exits 1 when a start-up step fails after the engine connected', { timeout: 60_000 }, async () => {
  const redis = await sharedRedis();
  const prefix = testPrefix();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      ...cleanEnv,
      HERALD_PORT: String(await freePort()),
      HERALD_JWT_SECRET: 'start-failure-secret-0123456789abcdef',
      HERALD_API_KEY: 'start-failure-api-key-0123',
      HERALD_ENGINE: 'redis',
      HERALD_REDIS_URL: redis.url,
      HERALD_REDIS_KEY_PREFIX: prefix,
      HERALD_LOG_LEVEL: 'silent',
      // Nothing listens there: the NATS source's first connect is refused.
      HERALD_INGEST_NATS_URL: `nats://127.0.0.1:${await freePort()}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    // Bounded: without the fix the process never exits.
    await waitUntil(() => (child.exitCode !== null ? true : undefined), 30_000, 'herald serve exited');
    assert.equal(child.exitCode, 1);
    assert.match(err, /^herald: .*(CONNECTION_REFUSED|ECONNREFUSED)/m);
  } finally {
    child.kill('SIGKILL');
    await deleteKeys(redis.client, prefix);
    redis.client.disconnect();
  }
});
