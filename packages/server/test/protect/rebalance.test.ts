/** Connection balancing on Redis: three nodes; after one restarts empty, the others close connections with 1001 `rebalance` until the counts converge. */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { CloseCode } from '@herald/protocol';
import type { HeraldNode } from '../../src/node.js';
import type { HeraldConfigInput } from '../../src/config/schema.js';
import { connect, startNode, waitUntil, type TestClient } from '../helpers/harness.js';
import { deleteKeys, sharedRedis, testPrefix } from '../helpers/redisServer.js';
import { scrape } from '../ops/metricsText.js';

const prefix = testPrefix();
let redis: Redis;
let cfg: HeraldConfigInput;
const nodes: HeraldNode[] = [];
const clients = new Map<number, TestClient>();
let rebalanced = 0;
let stopped = false;

before(async () => {
  const shared = await sharedRedis();
  redis = shared.client;
  cfg = { engine: 'redis', redisUrl: shared.url, redisKeyPrefix: prefix, ingestEnabled: false, rebalanceEnabled: true, rebalanceIntervalMs: 200, rebalanceMarginPercent: 20, rebalanceMaxClosesPerSec: 4, drainWindowMs: 0 };
});
after(async () => {
  stopped = true;
  for (const c of clients.values()) c.close();
  await Promise.all(nodes.map((n) => n.close()));
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

/** The load balancer: least connections among the running nodes. */
function leastLoaded(): HeraldNode {
  return nodes.filter((n) => !n.draining).sort((a, b) => a.gateway.registry.size - b.gateway.registry.size)[0]!;
}

/** A client that, like the SDK, reconnects when the server sends it elsewhere (1001). */
async function attach(i: number, to: HeraldNode = leastLoaded()): Promise<void> {
  const c = await connect(to, `user${i}`, { device: 'd' });
  clients.set(i, c);
  void c.waitClosed(600_000).then((info) => {
    if (stopped || info.code !== CloseCode.GoingAway) return;
    if (info.reason === 'rebalance') rebalanced++;
    void attach(i).catch(() => {});
  });
}

test('counts converge after a node restarts empty', async () => {
  for (let i = 0; i < 3; i++) nodes.push(await startNode(cfg));
  for (let i = 0; i < 30; i++) await attach(i, nodes[i % 3]);
  assert.deepEqual(nodes.map((n) => n.gateway.registry.size), [10, 10, 10]);
  // Balanced: nobody is closed.
  // Node C restarts: its clients reconnect to A and B (C is draining, the balancer skips it).
  const c = nodes[2]!;
  await c.close();
  nodes.splice(2, 1);
  await waitUntil(() => (nodes[0]!.gateway.registry.size + nodes[1]!.gateway.registry.size === 30 ? true : undefined), 10_000, 'clients of C moved to A and B');
  assert.equal(rebalanced, 0, 'no rebalance while the cluster was level');
  nodes.push(await startNode(cfg));
  // A and B are at 15, the fair share is 10: each hands back 5 (at most 4 per second), to the new node.
  await waitUntil(
    () => {
      const counts = nodes.map((n) => n.gateway.registry.size);
      return counts.reduce((a, b) => a + b, 0) === 30 && counts.every((n) => n >= 9 && n <= 11) ? counts : undefined;
    },
    30_000,
    'counts to converge',
  );
  assert.ok(rebalanced >= 8 && rebalanced <= 12, `closed with rebalance: ${rebalanced}`);
  const closes = (await scrape(nodes[0]!)).value('herald_rebalance_closes_total') + (await scrape(nodes[1]!)).value('herald_rebalance_closes_total');
  assert.equal(closes, rebalanced, 'the metric counts each rebalance close once');
  assert.equal((await scrape(nodes[2]!)).value('herald_rebalance_closes_total'), 0);
});
