import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { freePort, redisPing, RedisServer } from '../src/index.js';

test('RedisServer: starts on a free port, survives a kill and restart on the same port, and cleans up', async () => {
  const spawned: ChildProcess[] = [];
  const s = await RedisServer.start({ appendfsync: 'always', onSpawn: (p) => spawned.push(p) });
  try {
    assert.equal(await redisPing(s.port), true);
    assert.equal(s.url, `redis://127.0.0.1:${s.port}`);
    await s.kill();
    assert.equal(s.isRunning(), false);
    assert.equal(await redisPing(s.port), false);
    await s.spawn();
    assert.equal(await redisPing(s.port), true);
    assert.equal(spawned.length, 2, 'onSpawn sees the first start and the restart');
    await assert.rejects(s.spawn(), /already running/);
  } finally {
    await s.stop();
  }
  assert.equal(existsSync(s.dir), false);
  assert.equal(await redisPing(s.port), false);
});

test('RedisServer: a redis-server that cannot start fails with its own message, not a timeout', async () => {
  const port = await freePort();
  const t0 = Date.now();
  await assert.rejects(RedisServer.start({ port, extraArgs: ['--no-such-option', 'x'] }), /exited with .* at start/);
  assert.ok(Date.now() - t0 < 10_000);
});
