import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeraldError, memoryStore } from '../src/index.js';
import { addClient, connectClient, deliverAcked, replyOk } from './helpers/exchanges.js';
import { withServer } from './helpers/setup.js';
import { record, waitForCount, waitForEvent } from './helpers/wait.js';

test('duplicate and out-of-order seqs are dropped; unsequenced messages always pass', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const messages = record(client, 'message');
    const conn = await connectClient(server, client);
    for (const seq of [1, 2, 2, 1, undefined, 3, 3, undefined, 2, 5]) conn.message(seq);
    await waitForCount(client, 'message', messages, 6);
    assert.deepEqual(
      messages.map((m) => m.seq ?? null),
      [1, 2, null, 3, null, 5],
    );
    assert.equal(client.stats.duplicatesDropped, 4);
    // Cumulative auto-ack reaches the highest processed seq.
    await conn.next('ack', (f) => f.seq === 5);
    assert.equal(client.lastSeq, 5);
  }));

test('a seq at or below welcome.last_seq (already processed before the reconnect) is dropped', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const messages = record(client, 'message');
    const conn = await connectClient(server, client, { last_seq: 10 });
    conn.message(9);
    conn.message(10);
    conn.message(11);
    await waitForCount(client, 'message', messages, 1);
    assert.deepEqual(
      messages.map((m) => m.seq),
      [11],
    );
  }));

test('manual ack mode: acks coalesce into one cumulative ack frame, nothing is acked before the app says so', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients, { ackMode: 'manual', ackDelayMs: 5 });
    const messages = record(client, 'message');
    const conn = await connectClient(server, client);
    conn.message(1);
    conn.message(2);
    conn.message(3);
    await waitForCount(client, 'message', messages, 3);
    // Nothing acked yet: the next frame the server sees is the probe, not an ack.
    const probe = client.presence('probe');
    assert.equal((await conn.nextAny()).type, 'presence');
    probe.catch(() => {});
    // The app finishes its work in one go: a single ack frame for seq 3.
    for (const m of messages) m.ack();
    const ack = await conn.nextAny();
    assert.deepEqual(ack, { type: 'ack', seq: 3 });
    const probe2 = client.presence('probe2');
    probe2.catch(() => {});
    assert.equal((await conn.nextAny()).type, 'presence', 'exactly one ack frame');
    assert.equal(client.lastSeq, 3);
  }));

test('manual ack mode: unacked messages are delivered again after a reconnect', () =>
  withServer(async (server, clients) => {
    const store = memoryStore();
    const client = addClient(server, clients, { ackMode: 'manual', store, storageKey: 'k' });
    const messages = record(client, 'message');
    const conn = await connectClient(server, client);
    conn.message(1);
    conn.message(2);
    await waitForCount(client, 'message', messages, 2);
    messages[0]!.ack();
    await conn.next('ack', (f) => f.seq === 1);
    assert.equal(store.get('k'), 1);
    conn.terminate();
    const conn2 = await server.nextConnection();
    assert.equal(conn2.query.get('last_seq'), '1', 'resumes after the last acked seq, not the last delivered');
    await conn2.accept();
    await waitForEvent(client, 'connected');
    conn2.message(2);
    await waitForCount(client, 'message', messages, 3);
    assert.deepEqual(
      messages.map((m) => m.seq),
      [1, 2, 2],
    );
  }));

test('auto ack coalesces a burst into a few cumulative ack frames', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients, { ackDelayMs: 50 });
    const messages = record(client, 'message');
    const conn = await connectClient(server, client);
    // A burst: 50 frames written back to back arrive within one ack window.
    for (let seq = 1; seq <= 50; seq++) conn.message(seq);
    await waitForCount(client, 'message', messages, 50);
    const ack = await conn.nextAny();
    assert.equal(ack.type, 'ack');
    const acks = [ack];
    while ((acks.at(-1)!.seq as number) < 50) acks.push(await conn.next('ack'));
    // Acks are cumulative and strictly increasing; a 50-message burst must not cost 50 acks.
    const seqs = acks.map((a) => a.seq as number);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    assert.ok(seqs.length < 10, `expected coalesced acks, got ${seqs.length}: ${seqs.join(',')}`);
  }));

test('a resent message that was already acked is dropped and re-acked so the server stops retrying', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const messages = record(client, 'message');
    const conn = await connectClient(server, client);
    await deliverAcked(conn, 1, 2);
    conn.message(2); // the server did not see our ack in time and retried
    const reAck = await conn.next('ack');
    assert.equal(reAck.seq, 2);
    assert.equal(messages.length, 2);
  }));

test('a throwing message listener is reported as an error event and delivery (and acking) continues', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    client.on('message', (m) => {
      if (m.seq === 1) throw new Error('boom');
    });
    const messages = record(client, 'message');
    const errors = record(client, 'error');
    const conn = await connectClient(server, client);
    await deliverAcked(conn, 1, 2);
    assert.equal(messages.length, 2);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'listener');
    assert.match(errors[0]!.message, /boom/);
  }));

test('an error frame without id and an unparsable frame surface as error events', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const errors = record(client, 'error');
    const conn = await connectClient(server, client);
    conn.send({ type: 'error', code: 'rate_limited', message: 'slow down' });
    conn.sendRaw('{not json');
    await waitForCount(client, 'error', errors, 2);
    assert.ok(errors[0] instanceof HeraldError);
    assert.equal(errors[0]!.code, 'server');
    assert.equal(errors[0]!.serverCode, 'rate_limited');
    assert.equal(errors[1]!.code, 'bad_frame');
    assert.equal(client.state, 'connected');
  }));

test('the server reply to a bare-text ping and unknown frame types are ignored', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const errors = record(client, 'error');
    const messages = record(client, 'message');
    const conn = await connectClient(server, client);
    conn.sendRaw('pong');
    conn.send({ type: 'from-the-future', x: 1 });
    conn.message(1);
    await waitForCount(client, 'message', messages, 1);
    assert.deepEqual(errors, []);
  }));

test('sync(after) sends a sync request and re-delivers seqs above after, even if seen before', () =>
  withServer(async (server, clients) => {
    const client = addClient(server, clients);
    const messages = record(client, 'message');
    const conn = await connectClient(server, client);
    await deliverAcked(conn, 1, 2, 3);
    const synced = client.sync(1);
    const frame = await conn.next('sync');
    assert.equal(frame.after, 1);
    replyOk(conn, frame, { last_seq: 1, recovered: true });
    assert.equal((await synced).recovered, true);
    conn.message(2);
    conn.message(3);
    await waitForCount(client, 'message', messages, 5);
    assert.deepEqual(
      messages.map((m) => m.seq),
      [1, 2, 3, 2, 3],
    );
    // The replayed seqs are acked again (the server reset its cursor to `after`).
    await conn.next('ack', (f) => f.seq === 3);
    await assert.rejects(client.sync(-1), (e: unknown) => e instanceof HeraldError && e.code === 'invalid_argument');
  }));
