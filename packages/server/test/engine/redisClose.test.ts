/**
 * closeClient: QUIT when Redis answers, a hard disconnect when it does not — a node's shutdown
 * never waits on a stalled Redis (the connection runs through the stress suite's fault proxy).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FaultProxy } from '../../../stress/src/faultProxy.js';
import { Rng } from '../../../stress/src/rng.js';
import { closeClient, connectClient, createClient } from '../../src/redis/connect.js';
import { createLogger } from '../../src/observability/logger.js';
import { sharedRedis, waitFor } from '../helpers/redisServer.js';

const proxies: FaultProxy[] = [];
after(async () => {
  for (const p of proxies) await p.close();
});

async function proxied(): Promise<{ proxy: FaultProxy; url: string }> {
  const shared = await sharedRedis();
  shared.client.disconnect();
  const u = new URL(shared.url);
  const proxy = new FaultProxy('redis', [{ host: u.hostname, port: Number(u.port || 6379) }], new Rng(5));
  proxies.push(proxy);
  await proxy.listen();
  return { proxy, url: `redis://127.0.0.1:${proxy.port}` };
}

test('closeClient quits politely when Redis answers', async () => {
  const { url } = await proxied();
  const c = createClient(url, { name: 'herald:test:close-ok', logger: createLogger('silent') });
  await connectClient(c, 5000, 'test');
  await closeClient(c);
  await waitFor('the connection ended', () => c.status === 'end', 5000);
});

test('closeClient gives up on a QUIT nobody answers and disconnects, within its timeout', { timeout: 20_000 }, async () => {
  const { proxy, url } = await proxied();
  const c = createClient(url, { name: 'herald:test:close-stalled', logger: createLogger('silent') });
  c.on('error', () => undefined);
  await connectClient(c, 5000, 'test');
  proxy.stall(true); // bytes held both ways: QUIT reaches nobody
  const t0 = Date.now();
  await closeClient(c, 300);
  const took = Date.now() - t0;
  await waitFor('the connection ended', () => c.status === 'end', 5000);
  assert.ok(took < 5000, `bounded by the timeout, not by Redis (took ${took} ms)`);
  proxy.stall(false);
});
