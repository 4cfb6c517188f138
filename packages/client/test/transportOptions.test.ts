/** Validation of the transport options, and the SSE URL mapping. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { HeraldClient, HeraldError } from '../src/index.js';
import { HeraldClient as BinaryClient } from '../src/binary.js';
import { sseUrlOf } from '../src/transports/sseSocket.js';

const base = { url: 'ws://127.0.0.1:1/ws', token: 't', WebSocket };
const invalid = (e: unknown): boolean => e instanceof HeraldError && e.code === 'invalid_argument';

test('transports: websocket and/or sse, each once; sse only with the JSON protocol; shared only with JSON', () => {
  assert.throws(() => new HeraldClient({ ...base, transports: [] }), invalid);
  assert.throws(() => new HeraldClient({ ...base, transports: ['sse', 'sse'] }), invalid);
  assert.throws(() => new HeraldClient({ ...base, transports: ['longpoll' as 'sse'] }), invalid);
  assert.throws(() => new HeraldClient({ ...base, transports: ['websocket', 'sse'], sseAfterFailures: 0 }), invalid);
  assert.throws(() => new HeraldClient({ ...base, transports: ['websocket', 'sse'], webSocketProbeMs: -1 }), invalid);
  assert.throws(() => new BinaryClient({ ...base, protocol: 'binary', transports: ['websocket', 'sse'] }), invalid);
  assert.throws(() => new BinaryClient({ ...base, protocol: 'binary', shared: true }), invalid);
  assert.equal(new HeraldClient({ ...base, transports: ['websocket', 'sse'] }).transport, 'websocket');
  assert.equal(new HeraldClient({ ...base, transports: ['sse'] }).transport, 'sse');
  assert.equal(new HeraldClient(base).transport, 'websocket');
});

test('the SSE URL of a WebSocket URL keeps host and query, maps the scheme and /ws to /sse', () => {
  assert.equal(sseUrlOf('wss://push.example.com/ws?device=a&token=x').toString(), 'https://push.example.com/sse?device=a&token=x');
  assert.equal(sseUrlOf('ws://h:8080/herald/ws?last_seq=4').toString(), 'http://h:8080/herald/sse?last_seq=4');
});
