/**
 * Issue 20: Herald's Lua scripts on a single Redis are plain EVALSHA commands (luaCommand.ts), not
 * ioredis defineCommand scripts that ioredis copies onto every auto-pipeline batch. ioredis' loading
 * rule is kept: EVAL with the source first on each connection (a restarted Redis never answers
 * NOSCRIPT), EVALSHA after, and EVAL again on NOSCRIPT (SCRIPT FLUSH on a live connection).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { defineLua } from '../../src/engine/redis/luaCommand.js';
import { RedisServer } from '../helpers/redisServer.js';
import { recordCommandNames } from '../helpers/commandLog.js';

let server: RedisServer;
before(async () => {
  server = await RedisServer.start();
});
after(async () => {
  await server?.stop();
});

type Scripted = Redis & { echoKey(key: string, arg: string): Promise<string> };

test('EVAL first on a connection, EVALSHA after, EVAL again after NOSCRIPT and after a reconnect; nothing copied onto pipelines', async () => {
  const client = new Redis(server.url, { enableAutoPipelining: true, protocol: 2 }) as Scripted;
  try {
    defineLua(client, 'echoKey', 1, "return KEYS[1] .. ':' .. ARGV[1]");
    await client.ping();
    const sent = recordCommandNames(client);

    assert.equal(await client.echoKey('k', 'a'), 'k:a');
    assert.deepEqual(await Promise.all([client.echoKey('k', 'b'), client.echoKey('k', 'c')]), ['k:b', 'k:c']);
    assert.deepEqual(sent, ['eval', 'evalsha', 'evalsha']);
    assert.deepEqual(Object.keys(client.scriptsSet), [], 'no defineCommand script for ioredis to copy onto each pipeline');

    // SCRIPT FLUSH on the live connection: NOSCRIPT, answered by sending the source.
    const admin = new Redis(server.url);
    await admin.script('FLUSH').finally(() => admin.disconnect());
    sent.length = 0;
    assert.equal(await client.echoKey('k', 'd'), 'k:d');
    assert.deepEqual(sent, ['evalsha', 'eval']);

    // A new connection (as after a Redis restart): EVAL first again, no NOSCRIPT round trip.
    client.disconnect(true);
    await new Promise<void>((r) => client.once('ready', () => r()));
    sent.length = 0;
    assert.equal(await client.echoKey('k', 'e'), 'k:e');
    assert.equal(await client.echoKey('k', 'f'), 'k:f');
    assert.deepEqual(sent, ['eval', 'evalsha']);
  } finally {
    client.disconnect();
  }
});
