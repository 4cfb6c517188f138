/** Bad WebSocket input gets a clear answer, and nothing else is affected. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode } from '@herald/protocol';
import type { HeraldNode } from '../../src/node.js';
import { connect, publish, startNode, type TestClient } from '../helpers/harness.js';

let node: HeraldNode;
let bystander: TestClient;

before(async () => {
  node = await startNode({ maxFrameBytes: 1024, maxRoomsPerConnection: 2 });
  bystander = await connect(node, 'bystander');
});
after(async () => {
  bystander.close();
  await node.close();
});

/** The bystander still receives: the server and other connections kept working. */
async function bystanderStillServed(tag: string): Promise<void> {
  await publish(node, { to: { user: 'bystander' }, data: { tag } });
  await bystander.waitFor((f) => f.type === 'message' && (f.data as { tag?: string }).tag === tag, 3000, `bystander message ${tag}`);
}

test('malformed JSON closes 4000', async () => {
  const c = await connect(node, 'm1');
  c.send('{not json');
  const closed = await c.waitClosed();
  assert.equal(closed.code, CloseCode.ProtocolError);
  assert.match(closed.reason, /JSON/);
  await bystanderStillServed('after-bad-json');
});

test('a JSON value that is not an object closes 4000', async () => {
  const c = await connect(node, 'm2');
  c.send('[1,2,3]');
  assert.equal((await c.waitClosed()).code, CloseCode.ProtocolError);
});

test('an unknown frame type gets an error frame and the connection stays', async () => {
  const c = await connect(node, 'm3');
  const err = await c.request({ type: 'teleport' });
  assert.equal(err.type, 'error');
  assert.equal(err.code, 'unknown_type');
  const ok = await c.request({ type: 'join', room: 'fine' });
  assert.equal(ok.type, 'reply');
  c.close();
});

test('fields with bad values get an error naming the field', async () => {
  const c = await connect(node, 'm4');
  for (const [frame, code, field] of [
    [{ type: 'join', room: '' }, 'bad_field', 'room'],
    [{ type: 'join', room: 'has space' }, 'bad_field', 'room'],
    [{ type: 'publish', room: 'r' }, 'bad_field', 'data'],
    [{ type: 'sync', after: -1 }, 'bad_sync', 'after'],
    [{ type: 'sync', after: 1.5 }, 'bad_sync', 'after'],
  ] as const) {
    const e = await c.request(frame);
    assert.equal(e.type, 'error', JSON.stringify(frame));
    assert.equal(e.code, code);
    assert.match(String(e.message), new RegExp(field));
  }
  c.send({ type: 'ack', seq: 'x' });
  const e = await c.waitFor((f) => f.type === 'error' && f.code === 'bad_ack');
  assert.match(String(e.message), /seq/);
  assert.equal(c.closed, undefined);
  c.close();
});

test('a frame over the size limit closes 1009', async () => {
  const c = await connect(node, 'm5');
  c.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(2000) }));
  assert.equal((await c.waitClosed()).code, CloseCode.MessageTooBig);
  await bystanderStillServed('after-too-big');
});

test('binary frames without the v2 subprotocol close 4000', async () => {
  const c = await connect(node, 'm6');
  c.ws.send(Buffer.from([1, 2, 3]));
  assert.equal((await c.waitClosed()).code, CloseCode.ProtocolError);
});

test('rooms outside the token allow-list are refused; prefixes work; room count is limited', async () => {
  const c = await connect(node, 'm7', { rooms: ['ops:*', 'lobby'] });
  assert.equal((await c.request({ type: 'join', room: 'ops:kitchen' })).type, 'reply');
  assert.equal((await c.request({ type: 'join', room: 'lobby' })).type, 'reply');
  const forbidden = await c.request({ type: 'join', room: 'finance' });
  assert.equal(forbidden.code, 'room_forbidden');
  const c2 = await connect(node, 'm8');
  await c2.request({ type: 'join', room: 'a' });
  await c2.request({ type: 'join', room: 'b' });
  const tooMany = await c2.request({ type: 'join', room: 'c' });
  assert.equal(tooMany.code, 'too_many_rooms');
  assert.equal(c.closed, undefined);
  c.close();
  c2.close();
  await bystanderStillServed('after-rooms');
});

test('a non-WebSocket path on upgrade gets 404', async () => {
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(node.url.replace('http', 'ws') + '/nope');
  const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
  assert.equal(status, 404);
});
