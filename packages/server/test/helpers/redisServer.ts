/**
 * Real Redis for tests — never a mock.
 *
 * `sharedRedis()` is the long-running server (HERALD_TEST_REDIS_URL, default
 * redis://127.0.0.1:6379): tests use a unique key prefix on it and delete their
 * keys afterwards. Unreachable means failure with a clear message, in CI and
 * locally alike: a Redis test that silently skips would pass without testing.
 *
 * `RedisServer` / `RedisSentinel` (from @herald/testkit, re-exported here with
 * `waitFor` and `freePort` so tests keep one import) spawn private processes
 * on free ports, for tests that kill, restart or reconfigure Redis.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { after, before } from 'node:test';
import { redisPing } from '@herald/testkit';

export { freePort, RedisSentinel, RedisServer, waitFor, type RedisServerOptions } from '@herald/testkit';

export const SHARED_REDIS_URL = process.env.HERALD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test run uses. */
export function testPrefix(): string {
  return `herald-test-${randomBytes(5).toString('hex')}:`;
}

/** The shared server; throws (fails the test) when it is not there. */
export async function sharedRedis(): Promise<{ url: string; client: Redis }> {
  const u = new URL(SHARED_REDIS_URL);
  const port = Number(u.port || 6379);
  if (!(await redisPing(port, u.hostname))) {
    throw new Error(
      `Redis tests need a Redis 7 server at ${SHARED_REDIS_URL} (set HERALD_TEST_REDIS_URL to use another). ` +
        `It is not reachable, so these tests fail rather than skip${process.env.CI === 'true' ? ' (CI=true)' : ''}.`,
    );
  }
  const client = new Redis(SHARED_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  return { url: SHARED_REDIS_URL, client };
}

/** Deletes every key under `prefix` (SCAN, never KEYS: the shared server may be large). */
export async function deleteKeys(client: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  const pattern = prefix.replace(/[*?[\]\\]/g, '\\$&') + '*';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) n += await client.del(...keys);
  } while (cursor !== '0');
  return n;
}

/**
 * The shared server for one test file under a fresh key prefix: connects before the file's
 * tests (one retry: the probe can miss under load) and deletes the prefix's keys after them.
 * Read `url`, `admin` and `prefix` inside tests (they are set once `before` ran).
 */
export function useSharedRedis(): { readonly url: string; readonly admin: Redis; readonly prefix: string } {
  const prefix = testPrefix();
  const state: { url?: string; admin?: Redis } = {};
  before(async () => {
    const r = await sharedRedis().catch(() => sharedRedis());
    state.url = r.url;
    state.admin = r.client;
  });
  after(async () => {
    if (!state.admin) return;
    await deleteKeys(state.admin, prefix);
    state.admin.disconnect();
  });
  return {
    prefix,
    get url() {
      return state.url!;
    },
    get admin() {
      return state.admin!;
    },
  };
}
