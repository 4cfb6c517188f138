/**
 * Issue 20: on a single Redis (not Cluster) the node's index entry of a connection is written by
 * PRESENCE_ADD and deleted by PRESENCE_REMOVE themselves — one command per connect fewer, one
 * round trip per disconnect fewer — with the same first/last answers and the same index the
 * reaper reads.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisKeys } from '../../src/engine/redis/keys.js';
import { RedisPresence, DEFAULT_PRESENCE } from '../../src/engine/redis/presence.js';
import { createLogger } from '../../src/observability/logger.js';
import { useSharedRedis } from '../helpers/redisServer.js';
import { recordCommandNames } from '../helpers/commandLog.js';

const redis = useSharedRedis();

test('single Redis: PRESENCE_ADD writes the index entry, PRESENCE_REMOVE deletes it; no separate HSET/HDEL', async () => {
  const client = new Redis(redis.url);
  try {
    const keys = new RedisKeys(redis.prefix);
    const p = new RedisPresence(client, keys, 'ix-node', DEFAULT_PRESENCE, createLogger('silent'));
    await client.ping(); // connected: the connection's own handshake commands are not counted
    const sent = recordCommandNames(client);
    const d = { tenant: 'default', user: 'ix-user', device: 'd1', platform: 'web', node: 'ix-node', conn: 'ix-node.1', since: 1 };
    const d2 = { ...d, device: 'd2', conn: 'ix-node.2' };
    const index = keys.nodeConns('ix-node', p.boot);

    assert.equal(await p.add(d), true, 'first connection of the user in the cluster');
    assert.equal(await p.add(d2), false);
    assert.deepEqual(sent.filter((n) => n === 'hset' || n === 'hdel'), [], 'the index entry is not a command of its own');
    assert.equal(sent.length, 2, `one command per add (${sent.join(', ')})`);
    const entry = JSON.parse((await redis.admin.hget(index, d.conn))!) as Record<string, unknown>;
    assert.deepEqual(entry, { tenant: 'default', user: 'ix-user', device: 'd1', platform: 'web', since: 1 });
    assert.equal(await redis.admin.hlen(keys.userConns('default', 'ix-user')), 2);
    assert.deepEqual((await p.userDevices('default', 'ix-user')).map((x) => x.device), ['d1', 'd2']);

    sent.length = 0;
    assert.equal(await p.remove(d), false);
    assert.equal(await p.remove(d2), true, 'last connection of the user');
    assert.equal(sent.length, 2, `one command per remove (${sent.join(', ')})`);
    assert.equal(await redis.admin.hlen(index), 0, 'index entries deleted with the connections');
    assert.equal(await redis.admin.hlen(keys.userConns('default', 'ix-user')), 0);
    assert.deepEqual(await p.userDevices('default', 'ix-user'), []);
    await p.stop();
  } finally {
    client.disconnect();
  }
});
