import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEioPacket, decodeSioPacket, encodeConnect, encodeEvent, socketioProtocol } from '../src/targets/socketio.js';
import { heraldProtocol } from '../src/targets/herald.js';
import { decodeJsonFrame } from '../src/targets/jsonProtocol.js';
import { intAfter, peekDelivery } from '../src/targets/peek.js';

test('Engine.IO v4 packet types', () => {
  assert.deepEqual(decodeEioPacket('0{"sid":"abc","pingInterval":25000}'), { eio: 'open', handshake: { sid: 'abc', pingInterval: 25000 } });
  assert.deepEqual(decodeEioPacket('2'), { eio: 'ping' });
  assert.deepEqual(decodeEioPacket('3'), { eio: 'pong' });
  assert.deepEqual(decodeEioPacket('1'), { eio: 'close' });
  assert.deepEqual(decodeEioPacket('6'), { eio: 'unknown', raw: '6' });
});

test('Socket.IO v5 packets inside Engine.IO messages', () => {
  assert.deepEqual(decodeEioPacket('40{"sid":"x"}'), { eio: 'message', sio: { type: 'connect', data: { sid: 'x' } } });
  assert.deepEqual(decodeSioPacket('2["message",{"t":1}]'), { type: 'event', args: ['message', { t: 1 }] });
  assert.deepEqual(decodeSioPacket('212["join","r"]'), { type: 'event', id: 12, args: ['join', 'r'] });
  assert.deepEqual(decodeSioPacket('37[{"ok":true}]'), { type: 'ack', id: 7, args: [{ ok: true }] });
  assert.deepEqual(decodeSioPacket('4{"message":"unauthorized"}'), { type: 'connect_error', data: { message: 'unauthorized' } });
  assert.deepEqual(decodeSioPacket('1'), { type: 'disconnect' });
  assert.equal(encodeConnect({ token: 't' }), '40{"token":"t"}');
  assert.equal(encodeEvent(['join', 'r'], 5), '425["join","r"]');
  assert.equal(encodeEvent(['x']), '42["x"]');
});

test('the socket.io client protocol answers open with CONNECT+auth and ping with pong', () => {
  const sent: string[] = [];
  const send = (f: string): void => void sent.push(f);
  assert.deepEqual(socketioProtocol.decode('0{"sid":"s","pingInterval":25000,"pingTimeout":20000}', send, 'TOKEN'), { kind: 'none' });
  assert.deepEqual(sent, ['40{"token":"TOKEN"}']);
  assert.deepEqual(socketioProtocol.decode('40{"sid":"n"}', send, 'TOKEN'), { kind: 'ready' });
  assert.deepEqual(socketioProtocol.decode('2', send, 'TOKEN'), { kind: 'none' });
  assert.equal(sent[1], '3');
  assert.deepEqual(socketioProtocol.decode('44{"message":"unauthorized"}', send, 'TOKEN'), { kind: 'rejected', reason: 'connect_error' });
  assert.deepEqual(socketioProtocol.decode('4333[{"ok":true}]', send, 'TOKEN'), { kind: 'reply', id: '33', ok: true });
  assert.deepEqual(socketioProtocol.decode('433[{"ok":false,"error":"bad_room"}]', send, 'TOKEN'), { kind: 'reply', id: '3', ok: false, error: 'bad_room' });
  assert.deepEqual(socketioProtocol.decode('42["message",{"t":5,"k":1,"r":0}]', send, 'TOKEN'), { kind: 'message', data: { t: 5, k: 1, r: 0 } });
  assert.equal(socketioProtocol.join('room-1', '33'), '4233["join","room-1"]');
  assert.equal(socketioProtocol.url('http://127.0.0.1:9000', 'u', 'd', 't'), 'ws://127.0.0.1:9000/socket.io/?EIO=4&transport=websocket');
});

test('Herald v1 frames', () => {
  assert.deepEqual(decodeJsonFrame('{"type":"welcome","conn":"c","heartbeat_ms":25000,"last_seq":0}'), { kind: 'ready', heartbeatMs: 25000 });
  assert.deepEqual(decodeJsonFrame('{"type":"reply","id":"3","ok":true}'), { kind: 'reply', id: '3', ok: true });
  assert.deepEqual(decodeJsonFrame('{"type":"error","id":"3","code":"forbidden","message":"no"}'), { kind: 'reply', id: '3', ok: false, error: 'forbidden' });
  assert.deepEqual(decodeJsonFrame('{"type":"message","id":"m","seq":9,"data":{"t":1},"ts":2}'), { kind: 'message', data: { t: 1 }, seq: 9 });
  assert.deepEqual(decodeJsonFrame('not json'), { kind: 'rejected', reason: 'malformed_frame' });
  assert.equal(heraldProtocol.ack?.(42), '{"type":"ack","seq":42}');
  assert.equal(heraldProtocol.url('http://127.0.0.1:8080', 'u', 'd0', 'a.b.c'), 'ws://127.0.0.1:8080/ws?token=a.b.c&device=d0&platform=other');
});

test('the delivery fast path agrees with full decoding', () => {
  const frames: Array<[string, 'json' | 'socketio']> = [
    ['{"type":"message","id":"m1","seq":17,"data":{"t":123456789,"k":42,"r":-1,"p":"xx"},"ts":1700000000000}', 'json'],
    ['{"type":"message","id":"m1","data":{"t":123456789,"k":0,"r":3},"ts":1}', 'json'],
    ['42["message",{"t":99,"k":7,"r":0,"p":"xxxx"}]', 'socketio'],
  ];
  for (const [f, kind] of frames) {
    const p = peekDelivery(f, kind);
    assert.ok(p, f);
    const full = kind === 'json' ? decodeJsonFrame(f) : socketioProtocol.decode(f, () => undefined, '');
    assert.equal(full.kind, 'message');
    if (full.kind !== 'message') continue;
    const d = full.data as { t: number; k: number; r: number };
    assert.deepEqual({ t: p.t, k: p.k, r: p.r }, { t: d.t, k: d.k, r: d.r });
    assert.equal(p.seq, full.seq);
  }
  assert.equal(peekDelivery('{"type":"reply","id":"1","ok":true}', 'json'), null);
  assert.equal(peekDelivery('42["other",{"t":1,"k":1,"r":1}]', 'socketio'), null);
  assert.equal(peekDelivery('{"type":"message","data":{"x":1}}', 'json'), null, 'foreign payloads fall back to full decoding');
  assert.ok(Number.isNaN(intAfter('{"a":x}', '"a":')));
  assert.equal(intAfter('{"a":-12}', '"a":'), -12);
});
