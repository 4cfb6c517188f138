import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeraldError, memoryStore } from '../src/index.js';
import { addClient, deliverAcked, replyOk } from './helpers/exchanges.js';
import { makeClient, withServer } from './helpers/setup.js';
import { fakeJwt, record, waitForEvent } from './helpers/wait.js';

test('connect sends the token in an auth frame, device and platform in the query, and resolves with welcome', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients, { device: 'pos-7', platform: 'pos' });
    const states = record(client, 'state');
    const connected = client.connect();
    const conn = await server.nextConnection();
    assert.equal(conn.query.get('device'), 'pos-7');
    assert.equal(conn.query.get('platform'), 'pos');
    assert.equal(conn.query.get('token'), null, 'token must not be in the URL by default');
    assert.equal(conn.query.get('last_seq'), null, 'a new device sends no last_seq');
    const bare = addClient(server, clients);
    void bare.connect();
    assert.equal((await server.nextConnection()).query.get('device'), null, 'no device option: the server picks (token did, else default)');
    assert.equal(await conn.accept({ user: 'alice' }), 'tok-1');
    const welcome = await connected;
    assert.equal(welcome.user, 'alice');
    assert.equal(client.state, 'connected');
    assert.deepEqual(
      states.map((s) => s.state),
      ['connecting', 'connected'],
    );
  }));

test('tokenTransport "query" puts the token in the URL and sends no auth frame', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients, { tokenTransport: 'query' });
    void client.connect();
    const conn = await server.nextConnection();
    assert.equal(conn.query.get('token'), 'tok-1');
    await conn.accept();
    await waitForEvent(client, 'connected');
    // The first frame the client sends after welcome must not be an auth frame.
    const presence = client.presence('r1');
    const frame = await conn.nextAny();
    assert.equal(frame.type, 'presence');
    replyOk(conn, frame, { members: [] });
    assert.deepEqual((await presence).members, []);
  }));

test('a stored last_seq is sent on connect, keyed by tenant, user and device from the token', () =>
  withServer(async (server, clients) => {
    const store = memoryStore();
    await store.set('herald:last_seq:acme:bob:tab1', 41);
    await store.set('herald:last_seq:acme:eve:tab1', 999);
    const client = addClient(server, clients, { store, device: 'tab1', token: fakeJwt({ sub: 'bob', tid: 'acme' }) });
    void client.connect();
    const conn = await server.nextConnection();
    assert.equal(conn.query.get('last_seq'), '41');
    await conn.accept();
    await waitForEvent(client, 'connected');
    assert.equal(client.lastSeq, 41);
  }));

test('requests made before connect() are queued and sent after welcome, in call order', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const joined = client.join('lobby');
    const published = client.publish('lobby', { text: 'hi' }, { event: 'chat' });
    void client.connect();
    const conn = await server.nextConnection();
    await conn.accept();
    const join = await conn.nextAny();
    assert.equal(join.type, 'join');
    assert.equal(join.room, 'lobby');
    const pub = await conn.nextAny();
    assert.deepEqual({ type: pub.type, room: pub.room, data: pub.data, event: pub.event }, { type: 'publish', room: 'lobby', data: { text: 'hi' }, event: 'chat' });
    replyOk(conn, join);
    replyOk(conn, pub, { msg: 'x' });
    assert.equal((await joined).ok, true);
    assert.equal((await published).msg, 'x');
  }));

test('bad options throw a HeraldError with code invalid_argument or no_websocket', () => {
  assert.throws(() => makeClientNoServer({ device: 'bad device!' }), (e: unknown) => e instanceof HeraldError && e.code === 'invalid_argument');
  assert.throws(() => makeClientNoServer({ url: '' }), (e: unknown) => e instanceof HeraldError && e.code === 'invalid_argument');
  assert.throws(() => makeClientNoServer({ ackDelayMs: -1 }), (e: unknown) => e instanceof HeraldError && e.code === 'invalid_argument');
  // Node 20 has no global WebSocket: the error must say how to fix it.
  if (!(globalThis as { WebSocket?: unknown }).WebSocket) {
    assert.throws(() => makeClientNoServer({ WebSocket: undefined }), (e: unknown) => e instanceof HeraldError && e.code === 'no_websocket' && /ws/.test(e.message));
  }
});

test('invalid room names reject with invalid_argument without touching the socket', async () => {
  const client = makeClientNoServer({});
  await assert.rejects(client.join('no spaces'), (e: unknown) => e instanceof HeraldError && e.code === 'invalid_argument');
  await assert.rejects(client.publish('', 1), (e: unknown) => e instanceof HeraldError && e.code === 'invalid_argument');
  assert.deepEqual(client.rooms, []);
});

test('close() rejects pending requests with closed and connect() with closed', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const connecting = client.connect();
    const conn = await server.nextConnection();
    await conn.next('auth'); // the socket is open on both sides
    const pending = client.publish('r', 1);
    const closedEvent = waitForEvent(client, 'closed');
    client.close();
    await assert.rejects(connecting, (e: unknown) => e instanceof HeraldError && e.code === 'closed');
    await assert.rejects(pending, (e: unknown) => e instanceof HeraldError && e.code === 'closed');
    assert.equal((await closedEvent).error, undefined);
    assert.equal(client.state, 'closed');
    assert.equal((await conn.closed).code, 1000);
  }));

import { WebSocket } from 'ws';
import { HeraldClient, type HeraldClientOptions } from '../src/index.js';
function makeClientNoServer(o: Partial<HeraldClientOptions>): HeraldClient {
  return new HeraldClient({ url: 'ws://127.0.0.1:9/ws', token: 't', WebSocket, store: memoryStore(), ...o });
}

test('a failing store is reported (code storage) and never blocks connecting or acking', () =>
  withServer(async (server, clients) => {
    const client = makeClient(server, {
      store: {
        get: () => {
          throw new Error('disk on fire');
        },
        set: () => Promise.reject(new Error('still on fire')),
      },
    });
    clients.push(client);
    const errors = record(client, 'error');
    void client.connect();
    const conn = await server.nextConnection();
    assert.equal(conn.query.get('last_seq'), null);
    await conn.accept({ last_seq: 3 });
    await waitForEvent(client, 'connected');
    await deliverAcked(conn, 4);
    const writeFailed = () => errors.some((e) => /still on fire/.test(e.message));
    if (!writeFailed()) await waitForEvent(client, 'error', writeFailed);
    assert.ok(errors.every((e) => e.code === 'storage'));
    assert.match(errors[0]!.message, /disk on fire/);
  }));
