/**
 * How long reaping a crashed node takes, per number of its connections (issue 23): the time from
 * the claim to the first reported chunk and to the last, through a real Redis, with the `offline`
 * events written by the removals (webhooks on, single Redis).
 *
 *   npx tsx scripts/reap-time.ts [--connections 1000,10000,50000] [--redis-url redis://127.0.0.1:6379]
 *
 * Each connection is its own user (so each removal empties a set and writes an `offline`: the
 * worst case). Uses a random key prefix and deletes its keys afterwards.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisKeys } from '../packages/server/src/engine/redis/keys.js';
import { reapDeadNodes } from '../packages/server/src/engine/redis/nodeReaper.js';
import { CONN_REMOVE } from '../packages/server/src/engine/redis/presenceScripts.js';
import { EventIds } from '../packages/server/src/webhooks/event.js';
import { presenceEventSink } from '../packages/server/src/webhooks/presenceEvents.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const sizes = arg('connections', '1000,10000,50000').split(',').map(Number);
const client = new Redis(arg('redis-url', 'redis://127.0.0.1:6379'));
client.defineCommand('heraldConnRemove', { numberOfKeys: 1, lua: CONN_REMOVE });
client.defineCommand('heraldConnRemoveEv', { numberOfKeys: 2, lua: CONN_REMOVE });

for (const n of sizes) {
  const prefix = `herald-reap-${randomBytes(4).toString('hex')}:`;
  const keys = new RedisKeys(prefix);
  const index: Record<string, string> = {};
  for (let i = 0; i < n; i++) index[`c${i}`] = JSON.stringify({ tenant: 't', user: `u${i}`, device: 'd', platform: 'web', since: 1 });
  for (let i = 0; i < n; i += 1000) {
    const p = client.pipeline();
    for (let j = i; j < Math.min(n, i + 1000); j++) p.hset(keys.userConns('t', `u${j}`), `c${j}`, 'dead|b');
    await p.exec();
  }
  await client.hset(keys.nodeConns('dead', 'b'), index);
  await client.sadd(keys.nodeBoots(), 'b:dead');
  const sink = presenceEventSink({ node: 'reaper', ids: new EventIds('reaper'), types: new Set(), partitions: 16, stream: (p) => `${prefix}webhooks:{${p}}:outbox`, maxLen: 1_000_000 });
  const t0 = performance.now();
  let first = 0;
  let chunks = 0;
  const reaped = await reapDeadNodes(client, keys, { node: 'reaper', boot: 'r' }, 60_000, () => {
    if (chunks++ === 0) first = performance.now() - t0;
  }, sink);
  const all = performance.now() - t0;
  console.log(`${n} connections: ${reaped} reaped in ${chunks} chunks; first chunk reported after ${first.toFixed(0)} ms, last after ${all.toFixed(0)} ms (${((all / n) * 1000).toFixed(1)} ms per 1000)`);
  let cursor = '0';
  do {
    const [next, found] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) await client.unlink(...found);
  } while (cursor !== '0');
}
client.disconnect();
