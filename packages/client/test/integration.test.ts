/**
 * The SDK against the real server (in-process, memory engine): resume, acks,
 * token refresh, replacement, rooms and presence, restarts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeraldError, memoryStore } from '../src/index.js';
import { client, publish, startServer, token, withNode } from './helpers/realServer.js';
import { record, waitForCount, waitForEvent } from './helpers/wait.js';

test('reliable messages published over HTTP arrive once each, in order, and are acked; offline ones are replayed on resume', () =>
  withNode({}, async (node, clients) => {
    const store = memoryStore();
    const tok = await token(node, 'alice');
    const c1 = client(node, { token: tok, device: 'phone', store });
    clients.push(c1);
    const messages = record(c1, 'message');
    const welcome = await c1.connect();
    assert.equal(welcome.user, 'alice');
    assert.equal(welcome.device, 'phone');
    for (let i = 1; i <= 3; i++) assert.equal((await publish(node, { to: { user: 'alice' }, data: { i }, event: 'note' })).status, 200);
    await waitForCount(c1, 'message', messages, 3);
    assert.deepEqual(
      messages.map((m) => m.data),
      [{ i: 1 }, { i: 2 }, { i: 3 }],
    );
    const lastSeq = messages[2]!.seq!;
    // The ack reaches the store (and the server) shortly after processing.
    await waitForStored(store, `herald:last_seq:default:alice:phone`, lastSeq);
    c1.close();

    // Offline: three more messages wait in the inbox.
    for (let i = 4; i <= 6; i++) await publish(node, { to: { user: 'alice' }, data: { i } });
    const c2 = client(node, { token: tok, device: 'phone', store });
    clients.push(c2);
    const replayed = record(c2, 'message');
    const w2 = await c2.connect();
    assert.equal(w2.last_seq, lastSeq, 'resumes from the stored position');
    assert.equal(w2.recovered, true);
    await waitForCount(c2, 'message', replayed, 3);
    assert.deepEqual(
      replayed.map((m) => m.data),
      [{ i: 4 }, { i: 5 }, { i: 6 }],
    );
  }));

test('a dropped socket resumes on the same client without loss or duplicates', () =>
  withNode({}, async (node, clients) => {
    const c = client(node, { token: await token(node, 'bob'), device: 'pc' });
    clients.push(c);
    const messages = record(c, 'message');
    await c.connect();
    await publish(node, { to: { user: 'bob' }, data: 1 });
    await waitForCount(c, 'message', messages, 1);
    // Kill the socket from the server side (API disconnect is a 4011: reconnect).
    const disconnected = waitForEvent(c, 'disconnected');
    const res = await fetch(`${node.url}/api/v1/disconnect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${node.config.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'bob', reason: 'test' }),
    });
    assert.equal(res.status, 200);
    assert.equal((await disconnected).willReconnect, true);
    await publish(node, { to: { user: 'bob' }, data: 2 });
    await waitForEvent(c, 'connected');
    await publish(node, { to: { user: 'bob' }, data: 3 });
    await waitForCount(c, 'message', messages, 3);
    assert.deepEqual(
      messages.map((m) => m.data),
      [1, 2, 3],
    );
    const seqs = messages.map((m) => m.seq!);
    assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b));
  }));

test('sync(after) replays from the server inbox on the live connection', () =>
  withNode({}, async (node, clients) => {
    const c = client(node, { token: await token(node, 'sam') });
    clients.push(c);
    const messages = record(c, 'message');
    await c.connect();
    for (let i = 1; i <= 3; i++) await publish(node, { to: { user: 'sam' }, data: i });
    await waitForCount(c, 'message', messages, 3);
    const reply = await c.sync(messages[0]!.seq!);
    assert.equal(reply.recovered, true);
    await waitForCount(c, 'message', messages, 5);
    assert.deepEqual(
      messages.map((m) => m.data),
      [1, 2, 3, 2, 3],
    );
    // Acks after the sync are accepted: a new message still flows.
    await publish(node, { to: { user: 'sam' }, data: 4 });
    await waitForCount(c, 'message', messages, 6);
    assert.equal(messages[5]!.data, 4);
  }));

test('ack timeout (4012): unacked messages come back after the reconnect and are acked then', () =>
  withNode({ ackTimeoutMs: 40, ackMaxAttempts: 2 }, async (node, clients) => {
    let acking = false;
    const c = client(node, { token: await token(node, 'carol'), ackMode: 'manual' });
    clients.push(c);
    const messages = record(c, 'message');
    c.on('message', (m) => {
      if (acking) m.ack();
    });
    await c.connect();
    await publish(node, { to: { user: 'carol' }, data: 'x' });
    const d = await waitForEvent(c, 'disconnected', (e) => e.code === 4012, 5000);
    assert.equal(d.willReconnect, true);
    acking = true;
    await waitForEvent(c, 'connected');
    await waitForCount(c, 'message', messages, 2);
    assert.equal(messages.at(-1)!.data, 'x');
    // Acked now: a later message is the next seq, and the first is not delivered again.
    const gotY = waitForEvent(c, 'message', (m) => m.data === 'y');
    await publish(node, { to: { user: 'carol' }, data: 'y' });
    await gotY;
    assert.deepEqual(
      messages.map((m) => m.data),
      ['x', 'x', 'y'],
      'x once per connection (its retry on the first one was deduped), then y',
    );
  }));

test('4001: the token provider is asked for a fresh token and the client connects', () =>
  withNode({}, async (node, clients) => {
    const good = await token(node, 'dave');
    const handed: string[] = [];
    const c = client(node, {
      token: async () => {
        const t = handed.length === 0 ? 'not-a-valid-token' : good;
        handed.push(t);
        return t;
      },
    });
    clients.push(c);
    const disconnects = record(c, 'disconnected');
    const welcome = await c.connect();
    assert.equal(welcome.user, 'dave');
    assert.equal(handed.length, 2);
    assert.equal(disconnects[0]?.code, 4001);
  }));

test('a short-lived token is refreshed over the open connection and the server accepts it', () =>
  withNode({}, async (node, clients) => {
    let calls = 0;
    const c = client(node, {
      token: () => {
        calls++;
        // 4 s, not 2: `exp` has whole seconds, so a 2 s token can arrive with
        // ≤ 1 s left, when the client leaves it to the 4001 path instead.
        return token(node, 'tia', { ttlSec: 4 });
      },
    });
    clients.push(c);
    const errors = record(c, 'error');
    const disconnects = record(c, 'disconnected');
    await c.connect();
    // The refresh is due ~2 s in. The next one is armed only after the server
    // accepted the fresh token, so a third provider call proves the acceptance.
    const deadline = Date.now() + 15_000;
    while (calls < 3) {
      assert.ok(Date.now() < deadline, `only ${calls} provider calls within 15 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const got = waitForEvent(c, 'message', (m) => m.data === 'still here');
    await publish(node, { to: { user: 'tia' }, data: 'still here' });
    await got;
    assert.deepEqual(errors, []);
    assert.deepEqual(disconnects, []);
  }));

test('4001 with a static bad token: the client stops with unauthorized', () =>
  withNode({}, async (node, clients) => {
    const c = client(node, { token: 'garbage' });
    clients.push(c);
    await assert.rejects(c.connect(), (e: unknown) => e instanceof HeraldError && e.code === 'unauthorized');
    assert.equal(c.state, 'closed');
  }));

test('4004: a second connection of the same user and device replaces the first, which stops', () =>
  withNode({}, async (node, clients) => {
    const tok = await token(node, 'erin');
    const first = client(node, { token: tok, device: 'tab' });
    const second = client(node, { token: tok, device: 'tab' });
    clients.push(first, second);
    await first.connect();
    const closed = waitForEvent(first, 'closed');
    await second.connect();
    const event = await closed;
    assert.equal(event.code, 4004);
    assert.equal(event.error?.code, 'terminal');
    assert.equal(first.state, 'closed');
    assert.equal(second.state, 'connected');
  }));

test('rooms: join, presence events and list, publish reaches both members, leave is seen', () =>
  withNode({}, async (node, clients) => {
    const a = client(node, { token: await token(node, 'ann'), device: 'a1' });
    const b = client(node, { token: await token(node, 'ben'), device: 'b1' });
    clients.push(a, b);
    await Promise.all([a.connect(), b.connect()]);
    await a.join('lobby');
    const annSeesBen = waitForEvent(a, 'presence', (p) => p.type === 'join' && p.user === 'ben');
    await b.join('lobby');
    await annSeesBen;
    const members = (await a.presence('lobby')).members ?? [];
    assert.deepEqual(members.map((m) => `${m.user}/${m.device}`).sort(), ['ann/a1', 'ben/b1']);

    const bGets = waitForEvent(b, 'message', (m) => m.room === 'lobby');
    const aGets = waitForEvent(a, 'message', (m) => m.room === 'lobby');
    const reply = await a.publish('lobby', { text: 'hello' }, { event: 'chat' });
    assert.equal(reply.ok, true);
    for (const m of [await aGets, await bGets]) {
      assert.deepEqual({ from: m.from, event: m.event, data: m.data, seq: m.seq }, { from: 'ann', event: 'chat', data: { text: 'hello' }, seq: undefined });
    }
    const annSeesBenLeave = waitForEvent(a, 'presence', (p) => p.type === 'leave' && p.user === 'ben');
    await b.leave('lobby');
    await annSeesBenLeave;
    await assert.rejects(b.publish('lobby', 'x'), (e: unknown) => e instanceof HeraldError && e.serverCode === 'not_joined');
  }));

test('rooms are re-joined after a reconnect and room messages flow again', () =>
  withNode({}, async (node, clients) => {
    const a = client(node, { token: await token(node, 'fay'), device: 'f1' });
    const b = client(node, { token: await token(node, 'gus'), device: 'g1' });
    clients.push(a, b);
    await Promise.all([a.connect(), b.connect()]);
    await a.join('ops');
    await b.join('ops');
    await fetch(`${node.url}/api/v1/disconnect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${node.config.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'fay' }),
    });
    // Ben sees Fay come back into the room without Fay's app doing anything.
    await waitForEvent(b, 'presence', (p) => p.type === 'join' && p.user === 'fay');
    const got = waitForEvent(a, 'message', (m) => m.data === 'after');
    await b.publish('ops', 'after');
    assert.equal((await got).from, 'gus');
  }));

test('a room outside the token allow-list is refused with room_forbidden', () =>
  withNode({}, async (node, clients) => {
    const c = client(node, { token: await token(node, 'hal', { rooms: ['public:*'] }) });
    clients.push(c);
    await c.connect();
    await c.join('public:news');
    await assert.rejects(c.join('private'), (e: unknown) => e instanceof HeraldError && e.serverCode === 'room_forbidden');
    assert.deepEqual(c.rooms, ['public:news']);
  }));

test('server restart (memory engine loses inboxes): the client reconnects, adopts the lower last_seq and reports unrecovered', async () => {
  let node = await startServer({});
  const { port } = node;
  const { jwtSecret, apiKey } = node.config;
  const c = client(node, { token: await token(node, 'ivy'), maxReconnectDelayMs: 100 });
  try {
    const messages = record(c, 'message');
    await c.connect();
    for (let i = 0; i < 5; i++) await publish(node, { to: { user: 'ivy' }, data: i });
    await waitForCount(c, 'message', messages, 5);
    assert.equal(c.lastSeq, messages[4]!.seq);
    const disconnected = waitForEvent(c, 'disconnected');
    await node.close();
    assert.equal((await disconnected).code, 1001, 'shutdown closes with 1001 (going away): reconnect');
    node = await startServer({ port, jwtSecret, apiKey });
    const unrecovered = await waitForEvent(c, 'unrecovered', undefined, 5000);
    assert.equal(unrecovered.requestedSeq, 5);
    assert.equal(unrecovered.lastSeq, 0);
    const fresh = waitForEvent(c, 'message', (x) => x.data === 'fresh');
    await publish(node, { to: { user: 'ivy' }, data: 'fresh' });
    const m = await fresh;
    assert.equal(m.seq, 1, 'a seq below the old watermark is a new message after the reset');
  } finally {
    c.close();
    await node.close();
  }
});

async function waitForStored(store: ReturnType<typeof memoryStore>, key: string, seq: number, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await store.get(key)) !== seq) {
    if (Date.now() > deadline) throw new Error(`store never reached ${seq} for ${key} (has ${String(await store.get(key))})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
