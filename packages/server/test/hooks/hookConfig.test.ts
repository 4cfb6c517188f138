/** Hook configuration: environment names derived from the keys, defaults, and bad values refused at start-up. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/load.js';

test('HERALD_HOOK_* variables set the hook keys; defaults are the documented ones', () => {
  const c = loadConfig({ env: { HERALD_HOOK_CONNECT_URL: 'http://auth.internal/herald/connect', HERALD_HOOK_RPC_TIMEOUT_MS: '500', HERALD_HOOK_BREAKER_OPEN_MS: '3000' } });
  assert.equal(c.hookConnectUrl, 'http://auth.internal/herald/connect');
  assert.equal(c.hookRpcTimeoutMs, 500);
  assert.equal(c.hookBreakerOpenMs, 3000);
  assert.equal(c.hookJoinUrl, undefined);
  assert.equal(c.hookConnectTimeoutMs, 2000);
  assert.equal(c.hookBreakerFailures, 5);
  assert.equal(c.hookMaxConcurrency, 64);
  assert.equal(c.hookMaxQueue, 1000);
  assert.equal(c.hookMaxAnswerBytes, 65536);
  assert.equal(c.hookMaxPendingPerConnection, 16);
});

test('a hook URL that is not http(s), or a bad bound, stops start-up naming the key', () => {
  for (const [env, key] of [
    [{ HERALD_HOOK_JOIN_URL: 'ftp://x/join' }, 'hookJoinUrl'],
    [{ HERALD_HOOK_PUBLISH_URL: 'not a url' }, 'hookPublishUrl'],
    [{ HERALD_HOOK_BREAKER_FAILURES: '0' }, 'hookBreakerFailures'],
    [{ HERALD_HOOK_CONNECT_TIMEOUT_MS: '999999' }, 'hookConnectTimeoutMs'],
  ] as const) {
    assert.throws(
      () => loadConfig({ env }),
      (err: unknown) => err instanceof ConfigError && err.message.includes(key),
      key,
    );
  }
});
