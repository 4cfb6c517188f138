import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeraldError, memoryStore } from '../src/index.js';
import { acceptNext, addClient, connectClient, deliverAcked, joinOk, replyOk } from './helpers/exchanges.js';
import { makeClient, withServer } from './helpers/setup.js';
import { fakeJwt, record, waitForCount, waitForEvent } from './helpers/wait.js';
import { decodeClaims } from '../src/token.js';

test('a dropped connection reconnects with last_seq and the replay continues without duplicates', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const messages = record(client, 'message');
    const states = record(client, 'state');
    const conn = await connectClient(server, client);
    await deliverAcked(conn, 1, 2);
    const disconnected = waitForEvent(client, 'disconnected');
    conn.terminate();
    const d = await disconnected;
    assert.equal(d.code, 1006);
    assert.equal(d.willReconnect, true);
    const conn2 = await server.nextConnection();
    assert.equal(conn2.query.get('last_seq'), '2');
    await conn2.accept();
    await waitForEvent(client, 'connected');
    // Replay overlaps what was already seen (as after an ack lost in the drop), then continues.
    conn2.message(2);
    conn2.message(3);
    await waitForCount(client, 'message', messages, 3);
    assert.deepEqual(
      messages.map((m) => m.seq),
      [1, 2, 3],
    );
    assert.deepEqual(
      states.map((s) => s.state),
      ['connecting', 'connected', 'reconnecting', 'connected'],
    );
  }));

test('4012 (ack timeout): reconnect with last_seq and receive the replay once each, in order', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients, { ackMode: 'manual' });
    const messages = record(client, 'message');
    const conn = await connectClient(server, client);
    conn.message(1);
    conn.message(2);
    conn.message(3);
    await waitForCount(client, 'message', messages, 3);
    messages[1]!.ack(); // acks 1 and 2; the app is still busy with 3
    await conn.next('ack', (f) => f.seq === 2);
    const disconnected = waitForEvent(client, 'disconnected');
    conn.close(4012, 'ack timeout');
    assert.equal((await disconnected).code, 4012);
    const conn2 = await server.nextConnection();
    assert.equal(conn2.query.get('last_seq'), '2');
    await conn2.accept();
    await waitForEvent(client, 'connected');
    conn2.message(3);
    conn2.message(3); // a duplicate in the replay
    conn2.message(4);
    await waitForCount(client, 'message', messages, 5);
    assert.deepEqual(
      messages.map((m) => m.seq),
      [1, 2, 3, 3, 4],
      'seq 3 was never acked, so it is delivered again after the reconnect, once',
    );
  }));

test('4001 with a token provider: fetch a fresh token and reconnect', () =>
  withServer(async (server, clients) => {
    let calls = 0;
    const client = addClient(server, clients, { token: async () => `tok-${++calls}` });
    void client.connect();
    const conn = await server.nextConnection();
    assert.equal(await conn.accept(), 'tok-1');
    await waitForEvent(client, 'connected');
    conn.close(4001, 'token expired');
    const conn2 = await server.nextConnection();
    assert.equal(await conn2.accept(), 'tok-2');
    await waitForEvent(client, 'connected');
    assert.equal(calls, 2);
    // A plain drop reuses the cached token instead of calling the provider again.
    conn2.terminate();
    const conn3 = await server.nextConnection();
    assert.equal(await conn3.accept(), 'tok-2');
    assert.equal(calls, 2);
  }));

test('4001 twice in a row even with a fresh token: stop with unauthorized', () =>
  withServer(async (server, clients) => {
    let calls = 0;
    const client = addClient(server, clients, { token: () => `tok-${++calls}` });
    const connecting = client.connect();
    const conn = await server.nextConnection();
    await conn.next('auth');
    conn.close(4001, 'bad token');
    const conn2 = await server.nextConnection();
    await conn2.next('auth');
    const closed = waitForEvent(client, 'closed');
    conn2.close(4001, 'bad token');
    const event = await closed;
    assert.equal(event.error?.code, 'unauthorized');
    assert.equal(event.error?.closeCode, 4001);
    await assert.rejects(connecting, (e: unknown) => e instanceof HeraldError && e.code === 'unauthorized');
    assert.equal(calls, 2);
    assert.equal(await server.connectsWithin(150), false);
  }));

test('4001 with a static token: stop at once, no reconnect', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    void client.connect();
    const conn = await server.nextConnection();
    await conn.next('auth');
    const closed = waitForEvent(client, 'closed');
    conn.close(4001, 'expired');
    assert.equal((await closed).error?.code, 'unauthorized');
    assert.equal(client.state, 'closed');
    assert.equal(await server.connectsWithin(150), false);
  }));

for (const code of [4004, 4003, 1000, 4000, 1009]) {
  test(`close ${code} is terminal: closed event, no reconnect`, () =>
    withServer(async (server, clients) => {
      const client = addClient(server, clients);
      const disconnects = record(client, 'disconnected');
      const conn = await connectClient(server, client);
      const closed = waitForEvent(client, 'closed');
      conn.close(code, 'bye');
      const event = await closed;
      assert.equal(event.code, code);
      assert.equal(event.error?.code, 'terminal');
      assert.equal(event.error?.closeCode, code);
      assert.equal(client.state, 'closed');
      assert.deepEqual(disconnects, []);
      assert.equal(await server.connectsWithin(150), false);
    }));
}

test('welcome.last_seq lower than requested (inbox reset) becomes the watermark, and recovered:false is surfaced', () =>
  withServer(async (server, clients) => {
    const store = memoryStore();
    await store.set('k', 500);
    const client = addClient(server, clients, { store, storageKey: 'k' });
    const messages = record(client, 'message');
    const unrecovered = waitForEvent(client, 'unrecovered');
    void client.connect();
    const conn = await server.nextConnection();
    assert.equal(conn.query.get('last_seq'), '500');
    await conn.accept({ last_seq: 0, recovered: false });
    assert.deepEqual(await unrecovered, { requestedSeq: 500, lastSeq: 0 });
    assert.equal(store.get('k'), 0, 'the server position is persisted');
    conn.message(1);
    conn.message(2);
    await waitForCount(client, 'message', messages, 2);
    assert.deepEqual(
      messages.map((m) => m.seq),
      [1, 2],
      'seqs below the old local watermark are new messages after a reset',
    );
    await conn.next('ack', (f) => f.seq === 2);
    assert.equal(store.get('k'), 2);
  }));

test('heartbeat: pings every heartbeat_ms/2; a silent server is declared dead (4010) and the client reconnects', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const conn = await connectClient(server, client, { heartbeat_ms: 100 });
    // While pongs come back the connection stays up across several timeout periods.
    const pingsSeen = new Promise<void>((resolve, reject) => {
      const started = Date.now();
      const check = setInterval(() => {
        if (conn.pings >= 6) {
          clearInterval(check);
          resolve();
        } else if (Date.now() - started > 3000) {
          clearInterval(check);
          reject(new Error(`only ${conn.pings} pings in 3 s`));
        }
      }, 10);
    });
    await pingsSeen;
    assert.equal(client.state, 'connected');
    conn.autoPong = false;
    const started = Date.now();
    const d = await waitForEvent(client, 'disconnected', undefined, 2000);
    const elapsed = Date.now() - started;
    assert.equal(d.code, 4010);
    assert.ok(elapsed >= 150, `declared dead too early (${elapsed} ms)`);
    await acceptNext(server, client);
  }));

test('no welcome within connectTimeoutMs: the attempt is abandoned and retried', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients, { connectTimeoutMs: 100 });
    void client.connect();
    const conn = await server.nextConnection();
    await conn.next('auth'); // …and never answer
    const d = await waitForEvent(client, 'disconnected');
    assert.equal(d.willReconnect, true);
    await acceptNext(server, client);
  }));

test('maxReconnectAttempts: gives up with reconnect_failed', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients, { maxReconnectAttempts: 2 });
    const closed = waitForEvent(client, 'closed');
    void client.connect();
    for (let i = 0; i < 3; i++) (await server.nextConnection()).terminate();
    const event = await closed;
    assert.equal(event.error?.code, 'reconnect_failed');
    assert.equal(await server.connectsWithin(150), false);
  }));

test('back-off codes (4005, 4008) wait longer than a plain drop', () =>
  withServer(async (server, clients) => {
    // random() = 1 - ε makes the delay the whole window: 10 ms for a drop, 80 ms for back-off.
    const client = addClient(server, clients, { random: () => 0.999, minReconnectDelayMs: 10, maxReconnectDelayMs: 1000 });
    const delays = record(client, 'disconnected');
    const conn = await connectClient(server, client);
    conn.terminate();
    const conn2 = await acceptNext(server, client);
    conn2.close(4008, 'rate limited');
    const conn3 = await server.nextConnection();
    await conn3.accept();
    assert.deepEqual(
      delays.map((d) => [d.code, d.delayMs]),
      [
        [1006, 9],
        [4008, 79],
      ],
    );
  }));

test('the token provider failing is reported and retried with backoff', () =>
  withServer(async (server, clients) => {
    let calls = 0;
    const client = makeClient(server, {
      token: async () => {
        if (++calls === 1) throw new Error('auth service down');
        return 'tok-ok';
      },
    });
    clients.push(client);
    const error = waitForEvent(client, 'error');
    void client.connect();
    const e = await error;
    assert.equal(e.code, 'token_provider');
    assert.match(e.message, /auth service down/);
    const conn = await server.nextConnection();
    assert.equal(await conn.accept(), 'tok-ok');
  }));

test('reconnect() drops the socket (3000) and resumes at once with last_seq, rooms re-joined', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients, { minReconnectDelayMs: 10_000, maxReconnectDelayMs: 10_000 });
    const conn = await connectClient(server, client);
    await joinOk(conn, client, 'lobby');
    await deliverAcked(conn, 7);
    client.reconnect();
    assert.equal((await conn.closed).code, 3000);
    // The backoff is 10 s here: reaching the server quickly proves the retry is immediate.
    const conn2 = await server.nextConnection(2000);
    assert.equal(conn2.query.get('last_seq'), '7');
    await conn2.accept();
    assert.equal((await conn2.next('join')).room, 'lobby');
  }));

test('a request made in a connected listener goes out after the automatic re-joins', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    void client.join('a').catch(() => {});
    client.on('connected', () => void client.presence('a').catch(() => {}));
    void client.connect();
    const conn = await server.nextConnection();
    await conn.accept();
    assert.equal((await conn.nextAny()).type, 'join');
    assert.equal((await conn.nextAny()).type, 'presence');
  }));

test('token provider + exp: a fresh token is sent over the open connection before expiry (no reconnect)', () =>
  withServer(async (server, clients) => {
    let calls = 0;
    const client = makeClient(server, {
      // Each token lives 2 s, so the refresh is due at half its remaining life.
      token: () => fakeJwt({ sub: 'u1', exp: Math.floor(Date.now() / 1000) + 2, n: ++calls }),
    });
    clients.push(client);
    const disconnects = record(client, 'disconnected');
    const conn = await connectClient(server, client);
    for (let round = 2; round <= 3; round++) {
      const auth = await conn.next('auth', (f) => f.id !== undefined, 3000);
      assert.equal(decodeClaims(String(auth.token))?.sub, 'u1');
      assert.equal(calls, round);
      replyOk(conn, auth);
    }
    assert.deepEqual(disconnects, []);
    assert.equal(client.state, 'connected');
  }));

test('connect() after close() starts again: same position, rooms re-joined', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const conn = await connectClient(server, client);
    await joinOk(conn, client, 'lobby');
    await deliverAcked(conn, 5);
    client.close();
    assert.equal((await conn.closed).code, 1000);
    assert.equal(client.state, 'closed');
    const again = client.connect();
    const conn2 = await server.nextConnection();
    assert.equal(conn2.query.get('last_seq'), '5');
    await conn2.accept();
    await again;
    assert.equal((await conn2.next('join')).room, 'lobby');
  }));
