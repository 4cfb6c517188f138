import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeraldError } from '../src/index.js';
import type { FakeConn } from './helpers/fakeServer.js';
import { addClient, connectClient, replyOk } from './helpers/exchanges.js';
import { withServer } from './helpers/setup.js';
import { record, waitForEvent } from './helpers/wait.js';

/** Answers the next join frame with ok and returns its room. */
async function okJoin(conn: FakeConn): Promise<string> {
  const join = await conn.next('join');
  replyOk(conn, join, { room: join.room });
  return String(join.room);
}

test('rooms are re-joined after a reconnect; a left room is not', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const conn = await connectClient(server, client);
    const a = client.join('a');
    const b = client.join('ops:b');
    assert.deepEqual([await okJoin(conn), await okJoin(conn)], ['a', 'ops:b']);
    await Promise.all([a, b]);
    const left = client.leave('ops:b');
    const leave = await conn.next('leave');
    replyOk(conn, leave);
    await left;
    assert.deepEqual(client.rooms, ['a']);

    conn.terminate();
    const conn2 = await server.nextConnection();
    await conn2.accept();
    const rejoin = await conn2.next('join');
    assert.equal(rejoin.room, 'a');
    replyOk(conn2, rejoin);
    // Probe: the frame after the re-join is ours, so ops:b was not re-joined.
    const probe = client.presence('a');
    const next = await conn2.nextAny();
    assert.equal(next.type, 'presence');
    replyOk(conn2, next, { members: [{ user: 'u1', device: 'd1' }] });
    assert.deepEqual((await probe).members, [{ user: 'u1', device: 'd1' }]);
  }));

test('a join in flight during a drop is resent once after reconnect and resolves; presence too', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const conn = await connectClient(server, client);
    const joined = client.join('lobby');
    const presence = client.presence('lobby');
    await conn.next('join');
    await conn.next('presence');
    conn.terminate();
    const conn2 = await server.nextConnection();
    await conn2.accept();
    const join = await conn2.nextAny();
    assert.equal(join.type, 'join');
    const pres = await conn2.nextAny();
    assert.equal(pres.type, 'presence');
    replyOk(conn2, join);
    replyOk(conn2, pres, { members: [] });
    await joined;
    await presence;
    // Probe: no second join for lobby went out.
    const probe = client.presence('x');
    probe.catch(() => {});
    assert.equal((await conn2.nextAny()).type, 'presence');
  }));

test('a publish in flight during a drop rejects with disconnected (it may have been applied)', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const conn = await connectClient(server, client);
    const published = client.publish('lobby', 'hello');
    await conn.next('publish');
    conn.terminate();
    await assert.rejects(published, (e: unknown) => e instanceof HeraldError && e.code === 'disconnected');
  }));

test('a server error reply rejects with code server and the server code; a refused join forgets the room', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const conn = await connectClient(server, client);
    const joined = client.join('secret');
    const join = await conn.next('join');
    conn.send({ type: 'error', id: join.id, code: 'room_forbidden', message: 'not in your token' });
    await assert.rejects(joined, (e: unknown) => e instanceof HeraldError && e.code === 'server' && e.serverCode === 'room_forbidden');
    assert.deepEqual(client.rooms, []);
  }));

test('a request without a reply rejects with timeout after timeoutMs', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    await connectClient(server, client);
    const started = Date.now();
    await assert.rejects(client.publish('r', 1, { timeoutMs: 80 }), (e: unknown) => e instanceof HeraldError && e.code === 'timeout');
    assert.ok(Date.now() - started >= 75);
  }));

test('a failed automatic re-join is reported as an error event and the room forgotten', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const conn = await connectClient(server, client);
    const joined = client.join('vip');
    await okJoin(conn);
    await joined;
    conn.terminate();
    const conn2 = await server.nextConnection();
    await conn2.accept();
    const error = waitForEvent(client, 'error');
    const join = await conn2.next('join');
    conn2.send({ type: 'error', id: join.id, code: 'room_forbidden', message: 'no longer allowed' });
    const e = await error;
    assert.equal(e.serverCode, 'room_forbidden');
    assert.deepEqual(client.rooms, []);
  }));

test('presence events and room messages are delivered', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const presence = record(client, 'presence');
    const conn = await connectClient(server, client);
    const message = waitForEvent(client, 'message');
    conn.send({ type: 'join', room: 'lobby', user: 'bob', device: 'd1' });
    conn.send({ type: 'leave', room: 'lobby', user: 'bob', device: 'd1' });
    conn.message(undefined, { text: 'hi' }, { room: 'lobby', from: 'carol', event: 'chat' });
    const m = await message;
    assert.deepEqual({ room: m.room, from: m.from, event: m.event, data: m.data }, { room: 'lobby', from: 'carol', event: 'chat', data: { text: 'hi' } });
    assert.deepEqual(
      presence.map((p) => [p.type, p.user]),
      [
        ['join', 'bob'],
        ['leave', 'bob'],
      ],
    );
  }));
