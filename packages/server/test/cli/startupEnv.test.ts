/**
 * Start-up inside Kubernetes: a Service named `herald` injects service-link
 * variables into every pod; Herald must start with them (logging them once)
 * while a misspelled HERALD_* still stops it (exit 2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { loadConfig, ConfigError } from '../../src/config/load.js';
import { isServiceLinkVariable, serviceLinkVariables } from '../../src/config/names.js';
import { spawnServe, BIN, cleanEnv } from './spawnServe.js';

const SECRETS = { HERALD_JWT_SECRET: 'startup-secret-0123456789', HERALD_API_KEY: 'startup-api-key-0123456789' };

/** What Kubernetes injects for `kind: Service, name: herald` with ports 8080 (http) and 9090 (metrics). */
const K8S_LINKS = {
  HERALD_SERVICE_HOST: '10.0.0.5',
  HERALD_SERVICE_PORT: '8080',
  HERALD_SERVICE_PORT_HTTP: '8080',
  HERALD_SERVICE_PORT_METRICS: '9090',
  HERALD_PORT: 'tcp://10.0.0.5:8080',
  HERALD_PORT_8080_TCP: 'tcp://10.0.0.5:8080',
  HERALD_PORT_8080_TCP_PROTO: 'tcp',
  HERALD_PORT_8080_TCP_PORT: '8080',
  HERALD_PORT_8080_TCP_ADDR: '10.0.0.5',
  HERALD_PORT_9090_TCP: 'tcp://10.0.0.5:9090',
  HERALD_PORT_9090_TCP_PROTO: 'tcp',
  HERALD_PORT_9090_TCP_PORT: '9090',
  HERALD_PORT_9090_TCP_ADDR: '10.0.0.5',
};

test('the service-link shapes are recognised, and only those', () => {
  for (const [k, v] of Object.entries(K8S_LINKS)) assert.ok(isServiceLinkVariable(k, v), k);
  assert.equal(isServiceLinkVariable('HERALD_PORT', '8080'), false, 'a numeric HERALD_PORT is the real port');
  assert.equal(isServiceLinkVariable('HERALD_PORT', 'tcp://nonsense'), false);
  for (const name of ['HERALD_JWT_SECRT', 'HERALD_SERVICE', 'HERALD_SERVICE_HOSTS', 'HERALD_PORT_X_TCP', 'HERALD_PORT_8080_TCP_HOST', 'HERALD_PORTS']) {
    assert.equal(isServiceLinkVariable(name, 'x'), false, name);
  }
  assert.deepEqual(serviceLinkVariables({ ...K8S_LINKS, HERALD_ENGINE: 'memory' }), Object.keys(K8S_LINKS).sort());
});

test('loadConfig ignores the service links, keeps a real HERALD_PORT, accepts the tools\' HERALD_URL and HERALD_TOKEN, refuses a typo', () => {
  const c = loadConfig({ env: { ...K8S_LINKS, HERALD_URL: 'http://herald:8080', HERALD_TOKEN: 'eyJ.x.y', HERALD_LOG_LEVEL: 'warn' } });
  assert.equal(c.port, 8080, 'the tcp:// HERALD_PORT is not the port');
  assert.equal(c.logLevel, 'warn');
  assert.equal(loadConfig({ env: { ...K8S_LINKS, HERALD_PORT: '9000' } }).port, 9000);
  assert.throws(
    () => loadConfig({ env: { ...K8S_LINKS, HERALD_JWT_SECRT: 'x'.repeat(20) } }),
    (e: unknown) => e instanceof ConfigError && /HERALD_JWT_SECRT/.test(e.message),
  );
});

test('herald serve starts with the full set of Kubernetes-injected variables and logs them in one line', async () => {
  const s = await spawnServe(['--port', '0'], { ...K8S_LINKS, ...SECRETS, HERALD_LOG_LEVEL: 'info', HERALD_URL: 'http://herald:8080' });
  try {
    const lines = s.out().split('\n').filter((l) => l.includes('service-link'));
    assert.equal(lines.length, 1, s.out());
    const logged = JSON.parse(lines[0]!) as { variables: string[] };
    assert.deepEqual(logged.variables, Object.keys(K8S_LINKS).sort());
    const res = await fetch(`http://127.0.0.1:${s.port}/healthz`);
    assert.equal(res.status, 200);
    assert.notEqual(s.port, 8080);
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('a misspelled HERALD_JWT_SECRT among the service links stops start-up with exit 2, never dev mode', () => {
  const r = spawnSync(process.execPath, [BIN, 'serve', '--port', '0'], {
    env: { ...cleanEnv, ...K8S_LINKS, HERALD_JWT_SECRT: 'startup-secret-0123456789', HERALD_API_KEY: SECRETS.HERALD_API_KEY },
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /unknown environment variable HERALD_JWT_SECRT/);
  assert.doesNotMatch(r.stdout, /DEV MODE|listening/);
});

test('every configuration error exits 2: a secret without an API key too', () => {
  const r = spawnSync(process.execPath, [BIN, 'serve', '--port', '0'], { env: { ...cleanEnv, HERALD_JWT_SECRET: SECRETS.HERALD_JWT_SECRET }, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /HERALD_API_KEY is required/);
  const f = spawnSync(process.execPath, [BIN, 'serve', '--config', '/nonexistent/herald.json'], { env: cleanEnv, encoding: 'utf8', timeout: 20_000 });
  assert.equal(f.status, 2);
  assert.match(f.stderr, /cannot read config file/);
  const w = spawnSync(process.execPath, [BIN, 'serve', '--workers', 'many'], { env: cleanEnv, encoding: 'utf8', timeout: 20_000 });
  assert.equal(w.status, 2);
  assert.match(w.stderr, /--workers must be a positive integer/);
});

test('key-material rules across keys are configuration errors too (exit 2), checked before start-up', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ HERALD_JWT_ALGORITHMS: 'HS256,RS256', ...SECRETS }, /must not mix HS\* with public-key/],
    [{ HERALD_JWT_ALGORITHMS: 'RS256', HERALD_API_KEY: SECRETS.HERALD_API_KEY }, /need jwtPublicKey or jwksUrl/],
  ];
  for (const [env, message] of cases) {
    const r = spawnSync(process.execPath, [BIN, 'serve', '--port', '0'], { env: { ...cleanEnv, ...env }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    const c = spawnSync(process.execPath, [BIN, 'config', 'check'], { env: { ...cleanEnv, ...env }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(c.status, 2, c.stderr);
  }
});
