/** The CLI's messages: version, typos, one-line errors, defaults in help, config check/init, token secret rules. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { nodeBaseUrl } from '../../src/cli/publish.js';
import { BIN, cleanEnv } from './spawnServe.js';

function run(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...cleanEnv, ...env }, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const SECRET = 'cli-secret-0123456789abcdef';
const KEY = 'cli-api-key-0123456789abcdef';

test('herald --version prints the package version', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const flag of ['--version', '-v']) {
    const r = run([flag]);
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), pkg.version);
  }
});

test('a mistyped command names the nearest one in one line plus a --help hint', () => {
  const r = run(['publsh', '--user', 'a']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, "herald: unknown command 'publsh'. Did you mean 'publish'?\nRun 'herald --help' for the commands.\n");
  const far = run(['frobnicate']);
  assert.equal(far.status, 2);
  assert.match(far.stderr, /^herald: unknown command 'frobnicate'\.\n/);
  const sub = run(['config', 'chek']);
  assert.equal(sub.status, 2);
  assert.match(sub.stderr, /unknown command 'chek'\. Did you mean check\?/);
});

test('option errors print one line and a hint, never the whole help', () => {
  const r = run(['serve', '--prot', '80']);
  assert.equal(r.status, 2);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.equal(lines[0], "herald: unknown option '--prot'. Did you mean --port?");
  assert.equal(lines[1], "Run 'herald serve --help' for usage.");
  const t = run(['token']);
  assert.equal(t.status, 2);
  assert.deepEqual(t.stderr.trim().split('\n'), ["herald: required option '--sub <user>' not specified", "Run 'herald token --help' for usage."]);
});

test('serve --help shows each option\'s default and variable', () => {
  const r = run(['serve', '--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /--port <value>\s+TCP port[^\n]*\[HERALD_PORT\] \(default: 8080\)/);
  assert.match(r.stdout, /--engine <value>[^\n]*\(default: memory\)/);
  assert.match(r.stdout, /--binary-compression <value>[^\n]*\(default: zstd,deflate\)/);
  assert.match(r.stdout, /--host <value>[^\n]*127\.0\.0\.1 in dev mode/);
});

test('herald token refuses a secret the server would refuse (under 16 characters)', () => {
  const r = run(['token', '--sub', 'alice', '--secret', 'short-secret']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^herald token: the secret is too weak: .*16/);
  assert.equal(r.stdout, '');
  const env = run(['token', '--sub', 'alice'], { HERALD_JWT_SECRET: '0123456789abcde' });
  assert.equal(env.status, 2);
  assert.equal(run(['token', '--sub', 'alice'], { HERALD_JWT_SECRET: '0123456789abcdef' }).status, 0);
});

test('config check prints the effective configuration with secrets masked', () => {
  const r = run(['config', 'check', '--port', '9001'], {
    HERALD_JWT_SECRET: SECRET,
    HERALD_API_KEY: KEY,
    HERALD_ENGINE: 'redis',
    HERALD_REDIS_URL: 'redis://herald:s3cret-pass@redis:6379/0',
    HERALD_PORT_8080_TCP: 'tcp://10.0.0.5:8080',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /OK, production mode/);
  assert.match(r.stderr, /ignoring Kubernetes service-link variables: HERALD_PORT_8080_TCP/);
  const shown = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(shown.port, 9001);
  assert.equal(shown.engine, 'redis');
  assert.equal(shown.host, '0.0.0.0');
  assert.equal(shown.heartbeatMs, 25_000);
  assert.equal(shown.redisUrl, 'redis://herald:****@redis:6379/0');
  assert.equal(shown.jwtSecret, `<set, ${SECRET.length} characters>`);
  for (const secret of [SECRET, KEY, 's3cret-pass']) assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), 'a secret leaked');
  const dev = run(['config', 'check']);
  assert.equal(dev.status, 0);
  assert.match(dev.stderr, /DEV MODE/);
  assert.equal((JSON.parse(dev.stdout) as { host: string }).host, '127.0.0.1');
});

test('config check exits 2 on the first error, naming it', () => {
  const bad = run(['config', 'check'], { HERALD_JWT_SECRT: SECRET });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^herald config check: unknown environment variable HERALD_JWT_SECRT/);
  const value = run(['config', 'check', '--heartbeat-ms', 'soon']);
  assert.equal(value.status, 2);
  assert.match(value.stderr, /heartbeatMs/);
  const noKey = run(['config', 'check'], { HERALD_JWT_SECRET: SECRET });
  assert.equal(noKey.status, 2);
  assert.match(noKey.stderr, /HERALD_API_KEY is required/);
});

test('config init writes a commented starter file that the loader and config check read as is', () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-init-'));
  const file = join(dir, 'herald.json');
  const w = run(['config', 'init', '--output', file]);
  assert.equal(w.status, 0, w.stderr);
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^\/\/ Herald configuration/);
  assert.match(text, /\/\/ "heartbeatMs": 25000,/);
  assert.equal(run(['config', 'init']).stdout, text, 'printing and writing give the same file');
  const c = loadConfig({ file });
  assert.equal(c.port, 8080);
  assert.equal(c.host, undefined, 'the starter leaves the host to the dev/production default');
  // Uncommenting any one line keeps the file valid.
  const edited = text.replace('// "heartbeatMs": 25000,', '"heartbeatMs": 30000,');
  writeFileSync(file, edited);
  assert.equal(loadConfig({ file }).heartbeatMs, 30_000);
  const check = run(['config', 'check', '--config', file], { HERALD_JWT_SECRET: SECRET, HERALD_API_KEY: KEY });
  assert.equal(check.status, 0, check.stderr);
  assert.equal((JSON.parse(check.stdout) as { heartbeatMs: number }).heartbeatMs, 30_000);
  const again = run(['config', 'init', '--output', file]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /exists; pass --force/);
  assert.equal(run(['config', 'init', '--output', file, '--force']).status, 0);
});

test('HERALD_URL for `herald publish` may be the base URL or the WebSocket URL the client examples use', () => {
  for (const u of ['http://127.0.0.1:8080', 'http://127.0.0.1:8080/', 'ws://127.0.0.1:8080/ws', 'ws://127.0.0.1:8080/ws/']) assert.equal(nodeBaseUrl(u), 'http://127.0.0.1:8080');
  assert.equal(nodeBaseUrl('wss://push.example.com/ws'), 'https://push.example.com');
  assert.equal(nodeBaseUrl('https://push.example.com/herald'), 'https://push.example.com/herald');
  const r = run(['publish', '--help'], { HERALD_URL: 'http://herald.internal:8080' });
  assert.match(r.stdout, /--url <url>\s+node URL \[HERALD_URL\] \(default:\s+"http:\/\/herald\.internal:8080"\)/);
});
