/**
 * Ack frames over a real connection: the gateway reads the SDK's exact ack shape from the frame's
 * bytes (ingress.ts, plainAckSeqOf), every other text through parseClientFrame. Each text here
 * must get exactly what the general path answers: nothing for a valid ack, the same error frame
 * (code and message) for a bad one, the same close for one that is not JSON at all.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode } from '@herald/protocol';
import type { HeraldNode } from '../../src/node.js';
import { parseClientFrame, ProtocolViolation } from '../../src/protocol/clientFrames.js';
import { errorFrame } from '../../src/protocol/serverFrames.js';
import { connect, publish, startNode, waitUntil, type TestClient } from '../helpers/harness.js';

let node: HeraldNode;

before(async () => {
  node = await startNode({ frameRatePerUser: 0 });
});
after(async () => {
  await node.close();
});

/** What the general path (parseClientFrame, then the ack handler) answers to `text` once `sent` seqs were written. */
function generalAnswer(text: string, sent: number): { frames: string[] } | { close: number; reason: string } {
  let frame;
  try {
    frame = parseClientFrame(text);
  } catch (err) {
    assert.ok(err instanceof ProtocolViolation);
    if (err.fatal) return { close: CloseCode.ProtocolError, reason: err.message };
    return { frames: [errorFrame(err.code, err.message, err.id)] };
  }
  assert.equal(frame.type, 'ack', text);
  if (frame.seq > sent) return { frames: [errorFrame('bad_ack', `ack ${frame.seq} is beyond the last sent seq ${sent}`)] };
  return { frames: [] };
}

async function withTwoSent(user: string): Promise<TestClient> {
  const c = await connect(node, user);
  for (const n of [1, 2]) await publish(node, { to: { user }, data: { n }, reliable: true });
  await waitUntil(() => c.seqs().length === 2 || undefined, 3000, 'two reliable messages');
  return c;
}

/** Frames the server wrote after `text`, up to the pong of the ping sent behind it. */
async function answerTo(c: TestClient, text: string | Buffer): Promise<string[]> {
  const from = c.raw.length;
  c.ws.send(text, { binary: false });
  c.ws.send('{"type":"ping"}');
  await waitUntil(() => c.raw.slice(from).includes('{"type":"pong"}') || undefined, 3000, `pong after ${String(text)}`);
  return c.raw.slice(from, from + c.raw.slice(from).indexOf('{"type":"pong"}'));
}

test('every ack text variant gets the general path answer: valid, stale, beyond, malformed, extra fields, big, negative, non-integer, whitespace', async () => {
  const c = await withTwoSent('ack-variants');
  const texts = [
    // The SDK's shape: valid, repeated (stale), beyond the last sent seq, at every digit count the shortcut takes.
    '{"type":"ack","seq":0}', '{"type":"ack","seq":1}', '{"type":"ack","seq":1}', '{"type":"ack","seq":3}', '{"type":"ack","seq":10}',
    '{"type":"ack","seq":999999999999999}', '{"type":"ack","seq":1000000000000000}', '{"type":"ack","seq":9007199254740991}', '{"type":"ack","seq":9007199254740993}',
    // Equivalent JSON written otherwise: whitespace, key order, extra fields, an id.
    '{"type":"ack","seq":2 }', ' {"type":"ack","seq":2}', '{"type":"ack","seq":2}\n', '{ "type": "ack", "seq": 2 }', '{"type":"ack",\t"seq":2}',
    '{"seq":2,"type":"ack"}', '{"type":"ack","seq":2,"x":1}', '{"type":"ack","seq":2,"id":"a"}', '{"type":"ack","seq":3,"id":"b"}',
    // Numbers the field check refuses or reads otherwise.
    '{"type":"ack","seq":-1}', '{"type":"ack","seq":-0}', '{"type":"ack","seq":1.5}', '{"type":"ack","seq":2.0}', '{"type":"ack","seq":1e0}', '{"type":"ack","seq":2E0}',
    '{"type":"ack","seq":"1"}', '{"type":"ack","seq":null}', '{"type":"ack","seq":true}', '{"type":"ack","seq":[1]}', '{"type":"ack"}', '{"type":"ack","seq":1e400}',
    '{"type":"ack","seq":1,"seq":"x"}', '{"type":"ack","seq":"x","seq":1}', '{"type":"Ack","seq":1}', '{"type":"ack ","seq":1}', '{"type":"ack","Seq":1}',
  ];
  let sent = 2;
  for (const text of texts) {
    const want = generalAnswer(text, sent);
    assert.ok('frames' in want, text);
    assert.deepEqual(await answerTo(c, text), want.frames, text);
  }
  // Bytes as ws hands them over (a Buffer): the same answers.
  assert.deepEqual(await answerTo(c, Buffer.from('{"type":"ack","seq":2}')), []);
  assert.deepEqual(await answerTo(c, Buffer.from('{"type":"ack","seq":4}')), [errorFrame('bad_ack', 'ack 4 is beyond the last sent seq 2')]);
  assert.equal(await node.engine.getCursor('default', 'ack-variants', 'default'), 2);
  // Still the same connection, still acking: a third message is delivered and its ack taken.
  await publish(node, { to: { user: 'ack-variants' }, data: { n: 3 }, reliable: true });
  await waitUntil(() => c.seqs().length === 3 || undefined, 3000, 'third message');
  sent = 3;
  assert.deepEqual(generalAnswer('{"type":"ack","seq":3}', sent), { frames: [] });
  assert.deepEqual(await answerTo(c, '{"type":"ack","seq":3}'), []);
  assert.deepEqual(await answerTo(c, '{"type":"ack","seq":4}'), [errorFrame('bad_ack', 'ack 4 is beyond the last sent seq 3')]);
  assert.equal(c.closed, undefined);
  assert.equal(await node.engine.getCursor('default', 'ack-variants', 'default'), 3);
  c.close();
});

test('ack texts that are not JSON, or not UTF-8 digits, close 4000 as the general path does', async () => {
  for (const text of ['{"type":"ack","seq":}', '{"type":"ack","seq":01}', '{"type":"ack","seq":00}', '{"type":"ack","seq":1}}', '{"type":"ack","seq":1]', '{"type":"ack","seq":１}', '{"type":"ack","seq":٣}', '{"type":"ack","seq":+1}', '\uFEFF{"type":"ack","seq":1}']) {
    const c = await withTwoSent(`ack-fatal-${texts(text)}`);
    const want = generalAnswer(text, 2);
    assert.ok('close' in want, text);
    c.ws.send(text);
    const closed = await c.waitClosed();
    assert.equal(closed.code, want.close, text);
    assert.equal(closed.reason, want.reason, text);
  }
});

/** A user name for a text (ids must be 1-64 of [A-Za-z0-9._:-]). */
function texts(text: string): string {
  return Buffer.from(text).toString('hex').slice(-24);
}
