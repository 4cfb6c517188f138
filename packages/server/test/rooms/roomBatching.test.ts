/**
 * The room batching window (rooms/roomBatching.ts) against a hub stand-in
 * that routes room frames through the hook as DeliveryHub.deliverLocal does,
 * and the batch encodings (EncodedFrame.ofBatch): v1 text, v2 Batch frame,
 * and one SSE event per message. The path through the real server and SDK is
 * in packages/client/test/roomBatching.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, toV1 } from '@herald/protocol';
import type { DeliveryHub } from '../../src/delivery/hub.js';
import type { Route } from '../../src/engine/types.js';
import { EncodedFrame } from '../../src/protocol/encodedFrame.js';
import { messageFrame, presenceEventFrame } from '../../src/protocol/serverFrames.js';
import { RoomBatcher } from '../../src/rooms/roomBatching.js';
import { waitUntil } from '../helpers/harness.js';

interface Written {
  room: string;
  /** 'text' for a single frame, or the batch's v1 text. */
  text: string;
  messages: number;
}

/** The parts of DeliveryHub the batcher uses, with deliverLocal's hook call. */
function fakeHub(): { hub: DeliveryHub; written: Written[]; holds: { empty: boolean } } {
  const written: Written[] = [];
  const holds = { empty: true };
  const hub = {
    roomHolds: holds,
    roomBatch: undefined as DeliveryHub['roomBatch'],
    deliverLocal(route: Route, frame: string | EncodedFrame, publishedAt?: number, messages = 1): number {
      if (this.roomBatch !== undefined && route.kind === 'room' && typeof frame === 'string' && this.roomBatch(route, frame, publishedAt)) return 0;
      written.push({ room: (route as { room: string }).room, text: typeof frame === 'string' ? frame : frame.text(), messages });
      return 1;
    },
  };
  return { hub: hub as unknown as DeliveryHub, written, holds };
}

const room = (r: string, platform?: 'web'): Extract<Route, { kind: 'room' }> => ({ kind: 'room', tenant: 't', room: r, ...(platform ? { platform } : {}) });
const msg = (id: string, r = 'hot'): string => messageFrame({ id, ts: 1, room: r, data: JSON.stringify({ id }) });
const ids = (w: Written): string[] => {
  const f = JSON.parse(w.text) as { type: string; id?: string; messages?: { id: string }[] };
  return f.type === 'batch' ? f.messages!.map((m) => m.id) : [f.id ?? f.type];
};

test('messages within the window go out as one batch per room, in order, counted per message', async () => {
  const { hub, written } = fakeHub();
  const b = new RoomBatcher(hub, 20, 64 * 1024);
  b.install();
  assert.equal(hub.deliverLocal(room('hot'), msg('1')), 0, 'taken: written later');
  hub.deliverLocal(room('hot'), msg('2'));
  hub.deliverLocal(room('cold'), msg('x', 'cold'));
  hub.deliverLocal(room('hot'), msg('3'));
  assert.equal(written.length, 0);
  assert.equal(b.pendingRooms, 2);
  await waitUntil(() => written.length === 2 || undefined, 3000, 'both rooms sent');
  const hot = written.find((w) => w.room === 'hot')!;
  assert.deepEqual(ids(hot), ['1', '2', '3']);
  assert.equal(hot.messages, 3, 'the hub counts three deliveries per member');
  const cold = written.find((w) => w.room === 'cold')!;
  assert.equal(JSON.parse(cold.text).type, 'message', 'a lone message goes as a plain message');
  assert.equal(b.pendingRooms, 0);
});

test('a frame that is not batched sends the room’s pending batch first', () => {
  const { hub, written } = fakeHub();
  const b = new RoomBatcher(hub, 10_000, 64 * 1024);
  b.install();
  hub.deliverLocal(room('hot'), msg('1'));
  hub.deliverLocal(room('hot'), msg('2'));
  hub.deliverLocal(room('hot'), presenceEventFrame({ type: 'join', room: 'hot', user: 'u', device: 'd' }));
  hub.deliverLocal(room('hot'), msg('3'));
  hub.deliverLocal(room('hot', 'web'), msg('4'));
  assert.deepEqual(written.map(ids), [['1', '2'], ['join'], ['3'], ['4']]);
  assert.equal(b.pendingRooms, 0);
});

test('roomBatchMaxBytes sends a batch early; flushAll sends the rest', () => {
  const { hub, written } = fakeHub();
  const b = new RoomBatcher(hub, 10_000, 1024);
  b.install();
  const big = (id: string): string => messageFrame({ id, ts: 1, room: 'hot', data: JSON.stringify('x'.repeat(600)) });
  for (const id of ['1', '2', '3']) hub.deliverLocal(room('hot'), big(id));
  assert.deepEqual(written.map(ids), [['1', '2']], 'sent once past 1024 bytes');
  b.flushAll();
  assert.deepEqual(written.map(ids), [['1', '2'], ['3']]);
});

test('while a member recovers room history (holds), batching steps aside and batches go out as single frames', () => {
  const { hub, written, holds } = fakeHub();
  const b = new RoomBatcher(hub, 10_000, 64 * 1024);
  b.install();
  hub.deliverLocal(room('hot'), msg('1'));
  hub.deliverLocal(room('hot'), msg('2'));
  holds.empty = false;
  b.flushAll();
  hub.deliverLocal(room('hot'), msg('3'));
  assert.deepEqual(written.map(ids), [['1'], ['2'], ['3']]);
  assert.deepEqual(
    written.map((w) => w.messages),
    [1, 1, 1],
  );
});

test('EncodedFrame.ofBatch: v1 batch text, v2 Batch frame with the same messages, one SSE event per message', () => {
  const texts = [msg('1'), messageFrame({ id: '2', ts: 2, room: 'hot', data: JSON.stringify(Buffer.from([1, 2]).toString('base64')), binary: true })];
  const e = EncodedFrame.ofBatch(texts);
  const v1 = JSON.parse(e.text()) as unknown;
  assert.deepEqual(v1, { type: 'batch', messages: texts.map((t) => JSON.parse(t) as unknown) });
  const none = { compression: 'none' as const, compressor: null, threshold: 1024 };
  const ws = e.frameFor(none);
  assert.equal(ws[0], 0x82, 'a final binary WebSocket frame');
  // Unmasked WebSocket header: 2 bytes, +2 for a 16-bit length (126), +8 for a 64-bit one (127).
  const len7 = ws[1]! & 0x7f;
  const header = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
  assert.deepEqual(toV1(decodeFrame(ws.subarray(header), { sender: 'server' })), v1);
  assert.equal(e.sse(), texts.map((t) => `event: message\ndata: ${t}\n\n`).join(''));
  assert.equal(e.frameFor(none), ws, 'built once');
});

test('stop() (graceful drain) sends what is pending at once and later room messages go straight out', () => {
  const { hub, written } = fakeHub();
  const b = new RoomBatcher(hub, 60_000, 64 * 1024);
  b.install();
  hub.deliverLocal(room('hot'), msg('1'));
  hub.deliverLocal(room('hot'), msg('2'));
  assert.equal(written.length, 0, 'held in a one-minute window');
  b.stop();
  assert.equal(written.length, 1, 'the pending batch is sent by stop(), not by its timer');
  assert.deepEqual(ids(written[0]!), ['1', '2']);
  assert.equal(hub.deliverLocal(room('hot'), msg('3')), 1, 'after stop() a room message is written now');
  assert.equal(b.pendingRooms, 0);
  assert.equal(hub.roomBatch, undefined);
});
