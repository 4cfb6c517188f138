import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, ConfigError, configDefaults, maskCredentials } from '../../src/config/load.js';
import { envName, flagName } from '../../src/config/names.js';

function file(obj: unknown): string {
  const p = join(mkdtempSync(join(tmpdir(), 'herald-cfg-')), 'herald.json');
  writeFileSync(p, typeof obj === 'string' ? obj : JSON.stringify(obj));
  return p;
}

test('defaults: port 8080, memory engine, documented limits', () => {
  const c = loadConfig();
  assert.equal(c.port, 8080);
  assert.equal(c.engine, 'memory');
  assert.equal(c.maxFrameBytes, 65536);
  assert.equal(c.authTimeoutMs, 10_000);
  assert.equal(c.inboxMaxMessages, 1000);
  assert.equal(c.inboxMaxAgeSec, 7 * 86400);
  assert.equal(c.ackMaxAttempts, 5);
  assert.equal(c.idempotencyTtlSec, 300);
  assert.deepEqual(c.jwtAlgorithms, ['HS256']);
});

test('names map mechanically to env variables and flags', () => {
  assert.equal(envName('jwtSecret'), 'HERALD_JWT_SECRET');
  assert.equal(envName('redisUrl'), 'HERALD_REDIS_URL');
  assert.equal(flagName('ackTimeoutMs'), 'ack-timeout-ms');
  // The FIXED names of DESIGN.md §1 exist.
  const keys = Object.keys(configDefaults()).map(envName);
  for (const fixed of ['HERALD_PORT', 'HERALD_HOST', 'HERALD_JWT_SECRET', 'HERALD_API_KEY', 'HERALD_ENGINE', 'HERALD_REDIS_URL', 'HERALD_LOG_LEVEL', 'HERALD_NODE_ID']) {
    assert.ok(keys.includes(fixed), fixed);
  }
});

test('precedence: file < environment < flags', () => {
  const f = file({ port: 1000, host: '127.0.0.1', heartbeatMs: 1000 });
  const c = loadConfig({ file: f, env: { HERALD_PORT: '2000', HERALD_HEARTBEAT_MS: '3000' }, overrides: { port: 3000 } });
  assert.equal(c.port, 3000);
  assert.equal(c.heartbeatMs, 3000);
  assert.equal(c.host, '127.0.0.1');
});

test('HERALD_CONFIG names the file; lists and booleans parse from strings', () => {
  const f = file({ logLevel: 'warn' });
  const c = loadConfig({ env: { HERALD_CONFIG: f, HERALD_JWT_ALGORITHMS: 'HS256,HS512', HERALD_ROOM_PRESENCE_EVENTS: 'off' } });
  assert.equal(c.logLevel, 'warn');
  assert.deepEqual(c.jwtAlgorithms, ['HS256', 'HS512']);
  assert.equal(c.roomPresenceEvents, false);
});

test('unknown keys stop start-up naming the key and its source', () => {
  assert.throws(() => loadConfig({ file: file({ prot: 1 }) }), (e: ConfigError) => e instanceof ConfigError && /"prot"/.test(e.message) && /file/.test(e.message));
  assert.throws(() => loadConfig({ env: { HERALD_PROT: '1' } }), (e: ConfigError) => /HERALD_PROT/.test(e.message));
  assert.throws(() => loadConfig({ overrides: { nope: 1 } as never }), (e: ConfigError) => /"nope"/.test(e.message) && /flags/.test(e.message));
});

test('bad values stop start-up naming key, value and source; secrets are hidden', () => {
  assert.throws(() => loadConfig({ env: { HERALD_PORT: 'abc' } }), (e: ConfigError) => /"port"/.test(e.message) && /"abc"/.test(e.message) && /environment/.test(e.message));
  assert.throws(() => loadConfig({ overrides: { engine: 'mysql' as never } }), (e: ConfigError) => /"engine"/.test(e.message) && /mysql/.test(e.message));
  assert.throws(() => loadConfig({ env: { HERALD_JWT_SECRET: 'short' } }), (e: ConfigError) => /jwtSecret/.test(e.message) && !e.message.includes('short'));
  assert.throws(() => loadConfig({ file: file('{bad json') }), (e: ConfigError) => /not valid JSON/.test(e.message));
  assert.throws(() => loadConfig({ file: file([1, 2]) }), (e: ConfigError) => /JSON object/.test(e.message));
  assert.throws(() => loadConfig({ file: '/nonexistent/herald.json' }), (e: ConfigError) => /cannot read/.test(e.message));
});

test('empty environment variables count as unset', () => {
  assert.equal(loadConfig({ env: { HERALD_PORT: '' } }).port, 8080);
});

test('an invalid URL value is shown with its password masked', () => {
  assert.equal(maskCredentials('amqp://herald:s3cret@mq:5672/vh'), 'amqp://herald:***@mq:5672/vh');
  assert.equal(maskCredentials('redis://:pa%40ss@h:6379/0'), 'redis://:***@h:6379/0');
  assert.equal(maskCredentials('redis://h:6379'), 'redis://h:6379');
  assert.throws(
    () => loadConfig({ env: {}, overrides: { redisUrl: 'bogus://user:hunter22@h' } }),
    (err: Error) => !err.message.includes('hunter22') && err.message.includes('***'),
  );
});
