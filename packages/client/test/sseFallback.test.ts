/**
 * The SDK behind a proxy that refuses WebSocket upgrades: with
 * `transports: ['websocket', 'sse']` it falls back to SSE (fetch reader in
 * Node), delivers every reliable message once and in order, acks them (the
 * server's cursor moves), runs room requests over HTTP, resumes after a cut,
 * and switches back to WebSocket once upgrades pass again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, publish, token, withNode } from './helpers/realServer.js';
import { upgradeProxy } from './helpers/upgradeProxy.js';
import { record, waitForCount } from './helpers/wait.js';
import { waitUntil } from '@herald/testkit';

test('WebSocket refused by a proxy: the SDK falls back to SSE, delivers everything once, acks, and probes back to WebSocket', () =>
  withNode({}, async (node, clients) => {
    const proxy = await upgradeProxy(node.port);
    try {
      const c = client(node, {
        url: proxy.url.replace(/^http/, 'ws') + '/ws',
        token: await token(node, 'fb'),
        device: 'laptop',
        transports: ['websocket', 'sse'],
        sseAfterFailures: 2,
        webSocketProbeMs: 150,
        ackDelayMs: 0,
      });
      clients.push(c);
      const messages = record(c, 'message');
      const w = await c.connect();
      assert.equal(w.device, 'laptop');
      assert.equal(c.transport, 'sse');
      assert.equal(proxy.refused, 2, 'two refused upgrades, then SSE');
      for (let i = 1; i <= 10; i++) await publish(node, { to: { user: 'fb' }, data: i });
      await waitForCount(c, 'message', messages, 10);
      await waitUntil(async () => ((await node.engine.getCursor('default', 'fb', 'laptop')) === 10 ? true : undefined), 3000, 'acked by POST');

      // Room requests go over POST /sse/frame; replies come back on the stream.
      await c.join('news');
      await c.publish('news', { hello: 1 });
      await waitUntil(() => messages.find((m) => m.room === 'news'), 3000, 'own room message');
      const members = await c.presence('news');
      assert.deepEqual(members.members?.map((m) => m.user), ['fb']);

      // A cut: the stream is dropped server-side; the client resumes over SSE with what it processed.
      await fetch(`${node.url}/api/v1/disconnect`, {
        method: 'POST',
        headers: { authorization: `Bearer ${node.config.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'fb', reason: 'cut' }),
      });
      for (let i = 11; i <= 15; i++) await publish(node, { to: { user: 'fb' }, data: i });
      await waitUntil(() => (messages.filter((m) => typeof m.seq === 'number').length === 15 ? true : undefined), 5000, '15 reliable');

      // Upgrades pass again: the probe notices and the client moves back to WebSocket.
      proxy.blocking = false;
      await waitUntil(() => (c.transport === 'websocket' && c.state === 'connected' ? true : undefined), 5000, 'back on WebSocket');
      for (let i = 16; i <= 20; i++) await publish(node, { to: { user: 'fb' }, data: i });
      await waitUntil(() => (messages.filter((m) => typeof m.seq === 'number').length >= 20 ? true : undefined), 5000, '20 reliable');
      const reliable = messages.filter((m) => typeof m.seq === 'number');
      assert.deepEqual(
        reliable.map((m) => m.data),
        Array.from({ length: 20 }, (_, i) => i + 1),
        'every reliable message once, in order, across SSE, a cut and the switch back',
      );
      assert.equal(c.stats.duplicatesDropped >= 0, true);
    } finally {
      await proxy.close();
    }
  }));
