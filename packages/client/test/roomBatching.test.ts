/**
 * The room batching window (server `roomBatchWindowMs`, issue 20) through the
 * real server and the real SDK: with the window on, several room messages
 * reach a member as one batch frame (v1 text and v2 binary alike, JSON and
 * bytes entries) and the SDK hands the app each message, in order; with it
 * off (the default) nothing changes on the wire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { BinaryFrameType } from '@herald/protocol';
import type { WebSocketConstructor } from '../src/index.js';
import { client, token, withNode, type HeraldNode } from './helpers/realServer.js';
import { record, waitForCount, waitForEvent } from './helpers/wait.js';

/** A `ws` WebSocket that records every message it receives, raw (text as string, binary as bytes). */
function spying(seen: (string | Uint8Array)[]): WebSocketConstructor {
  return class SpyWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      this.on('message', (data, isBinary) => seen.push(isBinary ? new Uint8Array(data as ArrayBuffer) : String(data)));
    }
  };
}

/** POST /api/v1/publish/batch: the messages are handled in one request, well within one window. */
async function publishBatch(node: HeraldNode, messages: object[]): Promise<void> {
  const res = await fetch(`${node.url}/api/v1/publish/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${node.config.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messages }),
  });
  assert.equal(res.status, 200, await res.text());
}

const BYTES_B64 = Buffer.from([0, 1, 2, 255]).toString('base64');
const MESSAGES = [
  { to: { room: 'hot' }, data: { n: 1 }, event: 'tick' },
  { to: { room: 'hot' }, data_b64: BYTES_B64 },
  { to: { room: 'hot' }, data: { n: 3 } },
];

/** JSON and binary members of room `hot`, their raw frames, and what the app saw. */
async function members(node: HeraldNode, clients: ReturnType<typeof client>[]) {
  const rawJson: (string | Uint8Array)[] = [];
  const rawBin: (string | Uint8Array)[] = [];
  const json = client(node, { token: await token(node, 'j'), device: 'j', WebSocket: spying(rawJson) });
  const bin = client(node, { token: await token(node, 'b'), device: 'b', protocol: 'binary', WebSocket: spying(rawBin) });
  clients.push(json, bin);
  const jsonSeen = record(json, 'message');
  const binSeen = record(bin, 'message');
  await json.connect();
  await bin.connect();
  await json.join('hot');
  await bin.join('hot');
  // Only the frames that carry messages: presence events and replies are not what is counted.
  const isDelivery = (f: string | Uint8Array): boolean =>
    typeof f === 'string' ? /^\{"type":"(message|batch)"/.test(f) : [BinaryFrameType.Message, BinaryFrameType.MessageBytes, BinaryFrameType.Batch].includes(f[2] as never);
  return { json, bin, jsonSeen, binSeen, rawJson: () => rawJson.filter(isDelivery), rawBin: () => rawBin.filter(isDelivery), allJson: () => rawJson.filter((f) => typeof f === 'string' && f.startsWith('{')) };
}

const view = (m: { data: unknown; event?: string; room?: string }) => ({ data: m.data instanceof Uint8Array ? [...m.data] : m.data, event: m.event, room: m.room });
const EXPECTED = [
  { data: { n: 1 }, event: 'tick', room: 'hot' },
  { data: [0, 1, 2, 255], event: undefined, room: 'hot' },
  { data: { n: 3 }, event: undefined, room: 'hot' },
];

/** Publishes MESSAGES; both members' apps see exactly EXPECTED. */
async function publishAndReceive(node: HeraldNode, m: Awaited<ReturnType<typeof members>>): Promise<void> {
  await publishBatch(node, MESSAGES);
  await waitForCount(m.json, 'message', m.jsonSeen, 3);
  await waitForCount(m.bin, 'message', m.binSeen, 3);
  assert.deepEqual(m.jsonSeen.map(view), EXPECTED);
  assert.deepEqual(m.binSeen.map(view), EXPECTED);
}

test('window on: three room messages reach each member as one batch frame; the SDK delivers each, in order', () =>
  withNode({ roomBatchWindowMs: 1000 }, async (node, clients) => {
    const m = await members(node, clients);
    await publishAndReceive(node, m);

    const text = m.rawJson();
    assert.equal(text.length, 1, 'one text frame');
    const batch = JSON.parse(text[0] as string) as { type: string; messages: { type: string; data?: unknown; data_b64?: string }[] };
    assert.equal(batch.type, 'batch');
    assert.deepEqual(
      batch.messages.map((x) => [x.type, x.data ?? x.data_b64]),
      [
        ['message', { n: 1 }],
        ['message', BYTES_B64],
        ['message', { n: 3 }],
      ],
    );
    const binary = m.rawBin();
    assert.equal(binary.length, 1, 'one binary frame');
    assert.equal((binary[0] as Uint8Array)[2], BinaryFrameType.Batch);
  }));

test('window on: a batch is sent early at roomBatchMaxBytes; a lone message goes as a plain message', () =>
  withNode({ roomBatchWindowMs: 1000, roomBatchMaxBytes: 1024 }, async (node, clients) => {
    const m = await members(node, clients);
    const big = 'x'.repeat(600);
    // Messages 1+2 pass 1024 bytes: sent at once as a batch; so are 3+4; 5 waits for the window, alone.
    await publishBatch(
      node,
      [1, 2, 3, 4, 5].map((n) => ({ to: { room: 'hot' }, data: { n, big } })),
    );
    await waitForCount(m.json, 'message', m.jsonSeen, 5);
    assert.deepEqual(
      m.jsonSeen.map((x) => (x.data as { n: number }).n),
      [1, 2, 3, 4, 5],
    );
    const kinds = m.rawJson().map((t) => (JSON.parse(t as string) as { type: string; messages?: unknown[] }))
      .map((f) => (f.type === 'batch' ? `batch(${f.messages!.length})` : f.type));
    assert.deepEqual(kinds, ['batch(2)', 'batch(2)', 'message']);
  }));

test('window off (the default): every room message is its own frame, as before', () =>
  withNode({}, async (node, clients) => {
    const m = await members(node, clients);
    await publishAndReceive(node, m);
    assert.deepEqual(
      m.rawJson().map((t) => (JSON.parse(t as string) as { type: string }).type),
      ['message', 'message', 'message'],
    );
    assert.deepEqual(
      m.rawBin().map((b) => (b as Uint8Array)[2]),
      [BinaryFrameType.Message, BinaryFrameType.MessageBytes, BinaryFrameType.Message],
    );
  }));

test('window on: a presence event for the room sends the pending batch first (order kept)', () =>
  withNode({ roomBatchWindowMs: 1000 }, async (node, clients) => {
    const m = await members(node, clients);
    await publishBatch(node, MESSAGES.slice(0, 2));
    // A third member joins within the window: its join event must come after the two messages.
    const late = client(node, { token: await token(node, 'late'), device: 'l' });
    clients.push(late);
    const joined = waitForEvent(m.json, 'presence', (p) => p.type === 'join' && p.user === 'late');
    await late.connect();
    await late.join('hot');
    await joined;
    await waitForCount(m.json, 'message', m.jsonSeen, 2);
    const frames = m.allJson().map((t) => JSON.parse(t as string) as { type: string; user?: string });
    const joinAt = frames.findIndex((f) => f.type === 'join' && f.user === 'late');
    const batchAt = frames.findIndex((f) => f.type === 'batch');
    assert.ok(batchAt >= 0 && joinAt > batchAt, `batch before join: ${frames.map((f) => f.type).join(',')}`);
    assert.deepEqual(m.jsonSeen.map(view), EXPECTED.slice(0, 2));
  }));

test('window on: a graceful shutdown sends the pending batch before it closes the members 1001', () =>
  withNode({ roomBatchWindowMs: 1000, drainWindowMs: 0 }, async (node, clients) => {
    const m = await members(node, clients);
    await publishBatch(node, MESSAGES);
    assert.equal(m.jsonSeen.length, 0, 'held in the window');
    // Without the drain's flush the window's timer would fire after the members were closed.
    await node.close();
    await waitForCount(m.json, 'message', m.jsonSeen, 3);
    await waitForCount(m.bin, 'message', m.binSeen, 3);
    assert.deepEqual(m.jsonSeen.map(view), EXPECTED);
    assert.deepEqual(m.binSeen.map(view), EXPECTED);
  }));
