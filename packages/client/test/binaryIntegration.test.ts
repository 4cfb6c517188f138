/**
 * The SDK's binary protocol v2 against the real server (in-process, memory
 * engine): a binary and a JSON client side by side, reliable delivery with
 * acks and resume, and deflate negotiated and used in both directions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { HeaderOffset } from '@herald/protocol';
import { memoryStore, type WebSocketConstructor } from '../src/index.js';
import { client, publish, token, withNode } from './helpers/realServer.js';
import { record, waitForCount, waitForEvent } from './helpers/wait.js';

/** A `ws` WebSocket that also records every binary message it receives and sends, raw. */
function spyingWebSocket(seen: Uint8Array[], sent: Uint8Array[] = []): WebSocketConstructor {
  return class SpyWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      this.on('message', (data, isBinary) => {
        if (isBinary) seen.push(new Uint8Array(data as ArrayBuffer));
      });
    }

    override send(data: unknown, ...rest: unknown[]): void {
      if (data instanceof Uint8Array) sent.push(data);
      (super.send as (...args: unknown[]) => void)(data, ...rest);
    }
  };
}

/** Compressible order JSON of about `bytes` bytes. */
function order(n: number, bytes: number): Record<string, unknown> {
  const lines: Record<string, unknown>[] = [];
  const o = { order_id: `ord-${n}`, table: 7, lines };
  for (let i = 0; JSON.stringify(o).length < bytes; i++) lines.push({ sku: `SKU-${(i * 7919) % 1000}`, name: ['Flat white', 'Croissant'][i % 2], qty: 1 + (i % 3) });
  return o;
}

test('binary and JSON clients in one room receive the same messages', () =>
  withNode({}, async (node, clients) => {
    const bin = client(node, { token: await token(node, 'bin'), device: 'b', protocol: 'binary' });
    const json = client(node, { token: await token(node, 'json'), device: 'j' });
    clients.push(bin, json);
    const binMessages = record(bin, 'message');
    const jsonMessages = record(json, 'message');
    await bin.connect();
    await json.connect();
    await bin.join('kitchen');
    await json.join('kitchen');

    assert.equal((await publish(node, { to: { room: 'kitchen' }, data: { n: 1 }, event: 'order' })).status, 200);
    await bin.publish('kitchen', { n: 2, from: 'bin' });
    await json.publish('kitchen', { n: 3, from: 'json' });
    // Above the compression threshold: deflated for the binary client, text for the JSON one.
    assert.equal((await publish(node, { to: { room: 'kitchen' }, data: order(4, 5000) })).status, 200);
    await waitForCount(bin, 'message', binMessages, 4);
    await waitForCount(json, 'message', jsonMessages, 4);
    const view = (m: { room?: string; from?: string; event?: string; data: unknown; id: string }) => ({ id: m.id, room: m.room, from: m.from, event: m.event, data: m.data });
    assert.deepEqual(binMessages.map(view), jsonMessages.map(view));
    assert.deepEqual(
      binMessages.map((m) => (m.data as { n?: number; order_id?: string }).n ?? (m.data as { order_id: string }).order_id),
      [1, 2, 3, 'ord-4'],
    );
    assert.equal(binMessages[1]!.from, 'bin');
    assert.equal(jsonMessages[2]!.from, 'json');
  }));

test('reliable messages to a binary client are acked, and it resumes after being offline', () =>
  withNode({}, async (node, clients) => {
    const store = memoryStore();
    const tok = await token(node, 'alice');
    const c1 = client(node, { token: tok, device: 'pos', store, protocol: 'binary' });
    clients.push(c1);
    const messages = record(c1, 'message');
    await c1.connect();
    for (let i = 1; i <= 3; i++) assert.equal((await publish(node, { to: { user: 'alice' }, data: { i } })).status, 200);
    await waitForCount(c1, 'message', messages, 3);
    assert.deepEqual(
      messages.map((m) => m.data),
      [{ i: 1 }, { i: 2 }, { i: 3 }],
    );
    const lastSeq = messages[2]!.seq!;
    // A dropped socket (API disconnect, 4011) resumes on the same client without loss or duplicates.
    const reconnected = waitForEvent(c1, 'connected', (w) => w.last_seq === lastSeq, 5000);
    const res = await fetch(`${node.url}/api/v1/disconnect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${node.config.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'alice' }),
    });
    assert.equal(res.status, 200);
    await reconnected;
    await publish(node, { to: { user: 'alice' }, data: { i: 4 } });
    await waitForCount(c1, 'message', messages, 4);
    assert.deepEqual(
      messages.map((m) => m.data),
      [{ i: 1 }, { i: 2 }, { i: 3 }, { i: 4 }],
    );
    const seq4 = messages[3]!.seq!;
    c1.close(); // flushes the pending ack before closing

    // Offline: three more wait in the inbox.
    for (let i = 5; i <= 7; i++) await publish(node, { to: { user: 'alice' }, data: { i } });
    // A fresh store: only the server's cursor (moved by the Ack frames) says where to resume.
    const c2 = client(node, { token: tok, device: 'pos', store: memoryStore(), protocol: 'binary' });
    clients.push(c2);
    const replayed = record(c2, 'message');
    const w2 = await c2.connect();
    assert.equal(w2.last_seq, seq4, 'the server recorded the acks sent in v2 Ack frames');
    await waitForCount(c2, 'message', replayed, 3);
    assert.deepEqual(
      replayed.map((m) => m.data),
      [{ i: 5 }, { i: 6 }, { i: 7 }],
    );
  }));

test('deflate is negotiated; frames above the threshold are compressed both ways, smaller ones not', () =>
  withNode({}, async (node, clients) => {
    const seen: Uint8Array[] = [];
    const sent: Uint8Array[] = [];
    const bin = client(node, { token: await token(node, 'carol'), device: 'tab', protocol: 'binary', WebSocket: spyingWebSocket(seen, sent) });
    const peer = client(node, { token: await token(node, 'dave'), device: 'pc' });
    clients.push(bin, peer);
    const messages = record(bin, 'message');
    const peerMessages = record(peer, 'message');
    const welcome = (await bin.connect()) as { compression?: string; compression_threshold?: number };
    assert.equal(welcome.compression, 'deflate');
    assert.equal(welcome.compression_threshold, 1024);
    await peer.connect();

    const big = order(1, 8000);
    await publish(node, { to: { user: 'carol' }, data: big });
    await publish(node, { to: { user: 'carol' }, data: { small: true } });
    await waitForCount(bin, 'message', messages, 2);
    assert.deepEqual(messages[0]!.data, big);
    assert.deepEqual(messages[1]!.data, { small: true });
    const delivered = seen.filter((b) => b[HeaderOffset.Type] === 0x02);
    assert.equal(delivered.length, 2);
    assert.equal(delivered[0]![HeaderOffset.Compression], 1, 'the big message travelled deflated');
    assert.ok(delivered[0]!.length < 8000 / 3, `deflated to ${delivered[0]!.length} bytes`);
    assert.equal(delivered[1]![HeaderOffset.Compression], 0, 'the small one did not');

    // Client → server: a big publish goes out deflated, and the server takes it.
    await bin.join('hall');
    await peer.join('hall');
    const reply = await bin.publish('hall', big);
    assert.equal(reply.ok, true);
    const publishes = sent.filter((b) => b[HeaderOffset.Type] === 0x46);
    assert.equal(publishes.length, 1);
    assert.equal(publishes[0]![HeaderOffset.Compression], 1, 'the client deflated its big publish');
    assert.ok(sent.filter((b) => b !== publishes[0]).every((b) => b[HeaderOffset.Compression] === 0), 'and nothing else');
    await waitForCount(peer, 'message', peerMessages, 1);
    assert.deepEqual(peerMessages[0]!.data, big);
    assert.deepEqual(messages.at(-1)?.data, big, 'the publisher gets its own message back');
  }));

test('compression "none" with the binary protocol: nothing compressed, everything still delivered', () =>
  withNode({}, async (node, clients) => {
    const seen: Uint8Array[] = [];
    const bin = client(node, { token: await token(node, 'erin'), protocol: 'binary', compression: 'none', WebSocket: spyingWebSocket(seen) });
    clients.push(bin);
    const messages = record(bin, 'message');
    const welcome = (await bin.connect()) as { compression?: string };
    assert.equal(welcome.compression, 'none');
    const big = order(2, 4000);
    await publish(node, { to: { user: 'erin' }, data: big });
    await waitForCount(bin, 'message', messages, 1);
    assert.deepEqual(messages[0]!.data, big);
    assert.ok(seen.every((b) => b[HeaderOffset.Compression] === 0));
  }));
