/**
 * Dev mode mints tokens for anyone (/demo/token), so without an explicit host
 * it listens on 127.0.0.1 only: not reachable from another machine. Its banner
 * prints ready export lines; production prints a plain "listening on" line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { spawnSync } from 'node:child_process';
import WebSocket from 'ws';
import { waitUntil } from '../helpers/harness.js';
import { spawnServe, BIN, cleanEnv } from './spawnServe.js';

/** This machine's first non-loopback IPv4 address, if it has one. */
function externalIPv4(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/** 'refused' when nothing accepts a TCP connection at ip:port, else 'open'. */
async function probe(ip: string, port: number): Promise<'open' | 'refused'> {
  try {
    await fetch(`http://${ip}:${port}/healthz`, { signal: AbortSignal.timeout(3000) });
    return 'open';
  } catch {
    return 'refused';
  }
}

test('dev mode without a host listens on 127.0.0.1 only and is not reachable on a non-loopback address', async () => {
  const s = await spawnServe(['--port', '0'], {}, /Chat demo/);
  try {
    assert.equal(s.host, '127.0.0.1');
    assert.match(s.out(), /DEV MODE/);
    assert.equal((await fetch(`http://127.0.0.1:${s.port}/healthz`)).status, 200);
    const ip = externalIPv4();
    if (ip) assert.equal(await probe(ip, s.port), 'refused', `dev mode answered on ${ip}`);
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('dev mode with an explicit --host listens there (the probe above can tell the difference)', async () => {
  const ip = externalIPv4();
  const s = await spawnServe(['--port', '0', '--host', '0.0.0.0'], {}, /Chat demo/);
  try {
    assert.equal(s.host, '0.0.0.0');
    if (ip) assert.equal(await probe(ip, s.port), 'open');
  } finally {
    await s.stop();
  }
  // HERALD_HOST counts as a given host too.
  const e = await spawnServe(['--port', '0'], { HERALD_HOST: '0.0.0.0' }, /Chat demo/);
  try {
    assert.equal(e.host, '0.0.0.0');
  } finally {
    await e.stop();
  }
});

test('the dev banner export lines work as printed: TOKEN connects, HERALD_URL + HERALD_API_KEY publish', async () => {
  const s = await spawnServe(['--port', '0'], {}, /Chat demo/);
  try {
    const exported = Object.fromEntries([...s.out().matchAll(/^\s*export ([A-Z_]+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!.replace(/^'|'$/g, '')]));
    assert.deepEqual(Object.keys(exported).sort(), ['HERALD_API_KEY', 'HERALD_URL', 'TOKEN']);
    const ws = new WebSocket(`${exported.HERALD_URL!.replace(/^http/, 'ws')}/ws?token=${exported.TOKEN}&device=laptop`);
    const frames: { type: string; data?: unknown }[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as { type: string }));
    await waitUntil(() => frames.find((f) => f.type === 'welcome'), 5000, 'welcome');
    // `herald publish` reads HERALD_URL and HERALD_API_KEY from the environment.
    const cli = spawnSync(process.execPath, [BIN, 'publish', '--user', 'alice', '--data', '{"via":"exports"}'], {
      encoding: 'utf8',
      env: { ...cleanEnv, HERALD_URL: exported.HERALD_URL!, HERALD_API_KEY: exported.HERALD_API_KEY! },
    });
    assert.equal(cli.status, 0, cli.stderr);
    await waitUntil(() => frames.find((f) => (f.data as { via?: string } | undefined)?.via === 'exports'), 5000, 'published message');
    ws.close();
  } finally {
    await s.stop();
  }
});

test('production mode prints a human-readable listening line and no dev banner; default host is every interface', async () => {
  const s = await spawnServe(['--port', '0'], { HERALD_JWT_SECRET: 'prod-secret-0123456789abcdef', HERALD_API_KEY: 'prod-api-key-0123456789' });
  try {
    assert.equal(s.host, '0.0.0.0');
    assert.match(s.out(), /^herald listening on http:\/\/0\.0\.0\.0:\d+ \(every interface; locally http:\/\/127\.0\.0\.1:\d+\) — node \S+, engine memory$/m);
    assert.doesNotMatch(s.out(), /DEV MODE|export TOKEN/);
  } finally {
    assert.equal(await s.stop(), 0);
  }
});
