/**
 * The SDK's room features against the real server (in-process, memory
 * engine): join with {recover:true} replays what was missed across a
 * reconnect, and surfaces roomUnrecovered when it cannot; history();
 * setState() and roomState events; binary messages as Uint8Array, sent as
 * bytes when given one, on both wire protocols.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HeraldMessage } from '../src/index.js';
import { client, publish, token, withNode } from './helpers/realServer.js';
import { record, waitForCount, waitForEvent } from './helpers/wait.js';

test('join {recover:true}: a reconnect replays exactly the missed room messages', () =>
  withNode({ roomHistorySize: 50 }, async (node, clients) => {
    const c = client(node, { token: await token(node, 'rita') });
    clients.push(c);
    const got = record(c, 'message');
    await c.connect();
    const reply = await c.join('chat', { recover: true });
    assert.equal(reply.offset, 0);
    await publish(node, { to: { room: 'chat' }, data: 1 });
    await waitForCount(c, 'message', got, 1);
    // Drop the socket, publish meanwhile, let the client reconnect and re-join with `since`.
    c.close(); // the room stays wanted, and its position kept
    await publish(node, { to: { room: 'chat' }, data: 2 });
    await publish(node, { to: { room: 'chat' }, data: 3 });
    await c.connect();
    await waitForCount(c, 'message', got, 3);
    await publish(node, { to: { room: 'chat' }, data: 4 });
    await waitForCount(c, 'message', got, 4);
    assert.deepEqual(got.map((m: HeraldMessage) => [m.offset, m.data]), [[1, 1], [2, 2], [3, 3], [4, 4]]);
    assert.deepEqual((await c.history('chat', { limit: 2 })).map((m) => m.data), [3, 4]);
  }));

test('roomUnrecovered when history no longer reaches back', () =>
  withNode({ roomHistorySize: 2 }, async (node, clients) => {
    const c = client(node, { token: await token(node, 'sam') });
    clients.push(c);
    await c.connect();
    await c.join('news', { recover: true });
    const lost = waitForEvent(c, 'roomUnrecovered');
    c.close(); // the room stays wanted, and its position kept
    for (let i = 0; i < 5; i++) await publish(node, { to: { room: 'news' }, data: i });
    await c.connect();
    const e = await lost;
    assert.equal(e.room, 'news');
    assert.equal(e.offset, 5);
  }));

for (const protocol of ['json', 'binary'] as const) {
  test(`setState/roomState and binary messages (${protocol})`, () =>
    withNode({ roomStateFlushMs: 0 }, async (node, clients) => {
      const a = client(node, { token: await token(node, 'ann'), protocol });
      const b = client(node, { token: await token(node, 'ben'), protocol });
      clients.push(a, b);
      await Promise.all([a.connect(), b.connect()]);
      await a.join('doc');
      await b.join('doc');
      const states = record(b, 'roomState');
      await a.setState('doc', { cursor: 7 });
      await waitForCount(b, 'roomState', states, 1);
      assert.deepEqual(states[0], { type: 'state', room: 'doc', user: 'ann', device: 'default', data: { cursor: 7 } });
      const got = record(b, 'message');
      const bytes = new Uint8Array([0, 1, 2, 250, 255]);
      await a.publish('doc', bytes);
      await waitForCount(b, 'message', got, 1);
      assert.ok(got[0]!.data instanceof Uint8Array);
      assert.deepEqual([...(got[0]!.data as Uint8Array)], [...bytes]);
      const presence = await b.presence('doc');
      assert.deepEqual(presence.members?.find((m) => m.user === 'ann')?.state, { cursor: 7 });
    }));
}
