/**
 * The `herald` command as a user runs it: a real child process of
 * packages/server/bin/herald.js (built by `npm run build`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { jwtVerify } from 'jose';
import { createSecretKey } from 'node:crypto';
import WebSocket from 'ws';
import { waitUntil } from '../helpers/harness.js';

const BIN = fileURLToPath(new URL('../../bin/herald.js', import.meta.url));
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HERALD_')));

function run(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...cleanEnv, ...env }, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('herald --help and herald token --help explain themselves', () => {
  const r = run(['--help']);
  assert.equal(r.status, 0);
  for (const cmd of ['serve', 'token', 'publish', 'bench']) assert.match(r.stdout, new RegExp(cmd));
  const t = run(['token', '--help']);
  assert.match(t.stdout, /--sub/);
  assert.match(t.stdout, /--ttl/);
  const s = run(['serve', '--help']);
  assert.match(s.stdout, /HERALD_JWT_SECRET/);
  assert.match(s.stdout, /--ack-timeout-ms/);
});

test('herald token prints a JWT signed with HERALD_JWT_SECRET carrying the given claims', async () => {
  const secret = 'cli-secret-0123456789abcdef';
  const r = run(['token', '--sub', 'alice', '--tenant', 'acme', '--device', 'pos-1', '--rooms', 'ops:*,lobby', '--ttl', '2h'], { HERALD_JWT_SECRET: secret });
  assert.equal(r.status, 0, r.stderr);
  const { payload, protectedHeader } = await jwtVerify(r.stdout.trim(), createSecretKey(Buffer.from(secret)), { algorithms: ['HS256'] });
  assert.equal(protectedHeader.alg, 'HS256');
  assert.equal(payload.sub, 'alice');
  assert.equal(payload.tid, 'acme');
  assert.equal(payload.did, 'pos-1');
  assert.deepEqual(payload.rooms, ['ops:*', 'lobby']);
  assert.ok(Math.abs((payload.exp as number) - Date.now() / 1000 - 7200) < 60);
});

test('herald token without a secret, or with a bad ttl, explains and fails', () => {
  const r = run(['token', '--sub', 'alice']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /HERALD_JWT_SECRET/);
  const bad = run(['token', '--sub', 'a', '--ttl', 'soon'], { HERALD_JWT_SECRET: 'cli-secret-0123456789abcdef' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /duration/);
});

test('herald serve refuses bad configuration naming the key (exit 2)', () => {
  const r = run(['serve'], { HERALD_PORT: 'eighty' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /"port"/);
  const u = run(['serve'], { HERALD_PROT: '80' });
  assert.equal(u.status, 2);
  assert.match(u.stderr, /HERALD_PROT/);
  const f = run(['serve', '--heartbeat-ms', '-5']);
  assert.equal(f.status, 2);
  assert.match(f.stderr, /heartbeatMs/);
});

test('dev mode: herald serve prints a ready token and curl command that work; herald publish delivers', async () => {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1'], { env: { ...cleanEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await waitUntil(() => /curl -s (http:\S+)/.test(out) && /Chat demo/.test(out), 15_000, 'dev banner');
    assert.match(out, /DEV MODE/);
    const wsUrl = /(ws:\/\/\S+)/.exec(out)![1]!;
    const apiKey = /API key:\s+(\S+)/.exec(out)![1]!;
    const base = /curl -s (http:\/\/[^/]+)/.exec(out)![1]!;
    const ws = new WebSocket(wsUrl);
    const frames: { type: string; data?: unknown }[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as { type: string }));
    await waitUntil(() => frames.find((f) => f.type === 'welcome'), 5000, 'welcome');
    // The printed curl command's body, sent the same way.
    const res = await fetch(`${base}/api/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: '{"to":{"user":"alice"},"data":{"hello":"world"}}',
    });
    assert.equal(res.status, 200);
    await waitUntil(() => frames.find((f) => f.type === 'message'), 5000, 'message');
    const cli = spawnSync(process.execPath, [BIN, 'publish', '--user', 'alice', '--data', '{"via":"cli"}', '--url', base, '--api-key', apiKey], { encoding: 'utf8', env: cleanEnv });
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /"seq"/);
    await waitUntil(() => frames.find((f) => (f.data as { via?: string } | undefined)?.via === 'cli'), 5000, 'cli message');
    ws.close();
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  assert.equal(child.exitCode, 0);
});

test('herald publish without a target or key explains what is missing', () => {
  const r = run(['publish', '--data', '1']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /target/);
  const k = run(['publish', '--user', 'a', '--data', '1']);
  assert.equal(k.status, 2);
  assert.match(k.stderr, /HERALD_API_KEY/);
});
