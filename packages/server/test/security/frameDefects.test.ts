/**
 * Issue 13, WebSocket side, through the real server: a deeply nested frame
 * cannot crash the node (items 2), a handler's unexpected exception closes one
 * connection 1011, every client frame but a valid ack counts against the frame
 * rate (item 6), and a token refresh that narrows `rooms` revokes them (item 10).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { BinaryFrameType, CloseCode, encodeFrame } from '@herald/protocol';
import type { HeraldNode } from '../../src/node.js';
import { api, connect, nodeFactory, open, publish, token, waitUntil, type TestClient } from '../helpers/harness.js';
import { connectV2 } from '../protocol/v2Client.js';
import { scrape } from '../ops/metricsText.js';

const node = nodeFactory();
const clients: { close(): void }[] = [];
after(() => {
  for (const c of clients) c.close();
});

function keep<T extends { close(): void }>(c: T): T {
  clients.push(c);
  return c;
}

/** `[`×n + `]`×n: nesting depth n. */
const nested = (n: number): string => '['.repeat(n) + ']'.repeat(n);

/** The node still serves: a fresh connection gets a message published to it. */
async function stillServing(n: HeraldNode, tag: string): Promise<void> {
  const c = keep(await connect(n, `probe-${tag}`));
  assert.equal((await publish(n, { to: { user: `probe-${tag}` }, data: { tag } })).status, 200);
  await c.waitFor((f) => f.type === 'message' && (f.data as { tag?: string }).tag === tag, 3000, `message ${tag}`);
}

// ---------------------------------------------------------------- item 2: nesting depth

test('a room publish nesting 5,000 deep is refused with bad_field naming data; the connection and the node stay', async () => {
  const n = await node();
  const c = keep(await connect(n, 'deep'));
  assert.equal((await c.request({ type: 'join', room: 'r' })).type, 'reply');
  c.send(`{"type":"publish","room":"r","id":"deep1","data":${nested(5000)}}`);
  const e = await c.waitFor((f) => f.type === 'error' && f.id === 'deep1', 3000, 'error for the deep publish');
  assert.equal(e.code, 'bad_field');
  assert.match(String(e.message), /"data"/);
  assert.equal(c.closed, undefined);
  // The same connection keeps working.
  assert.equal((await c.request({ type: 'publish', room: 'r', data: [[1]] })).type, 'reply');
  await stillServing(n, 'after-deep');
});

test('maxJsonDepth counts the frame: data at depth max-1 passes, one deeper is refused (v1 text)', async () => {
  const n = await node({ maxJsonDepth: 4 });
  const c = keep(await connect(n, 'edge'));
  assert.equal((await c.request({ type: 'join', room: 'r' })).type, 'reply');
  assert.equal((await c.request({ type: 'publish', room: 'r', data: [[[1]]] })).type, 'reply');
  const e = await c.request({ type: 'publish', room: 'r', data: [[[[1]]]] });
  assert.equal(e.type, 'error');
  assert.equal(e.code, 'bad_field');
  assert.match(String(e.message), /"data".*4 levels/);
  // Depth inside strings is not nesting.
  assert.equal((await c.request({ type: 'publish', room: 'r', data: '[[[[[[[[' })).type, 'reply');
});

test('protocol v2: a Publish payload nesting 5,000 deep gets an error frame, the connection and the node stay', async () => {
  const n = await node();
  const c = keep(await connectV2(n, 'deep-v2'));
  assert.equal((await c.request({ type: 'join', room: 'r' })).type, 'reply');
  // Built by hand: the client-side encoder would itself overflow on JSON.stringify.
  const payload = Buffer.from(`{"room":"r","id":"deep2","data":${nested(5000)}}`);
  c.sendBytes(encodeFrame(BinaryFrameType.Publish, payload));
  const e = await c.waitFor((f) => f.type === 'error' && f.id === 'deep2', 3000, 'v2 error for the deep publish');
  assert.equal(e.code, 'bad_field');
  assert.match(String(e.message), /"data"/);
  assert.equal(c.closed, undefined);
  assert.equal((await c.request({ type: 'publish', room: 'r', data: { ok: true } })).type, 'reply');
  await stillServing(n, 'after-deep-v2');
});

// ---------------------------------------------------------------- isolation

test('an unexpected exception in a frame handler closes that connection 1011 and is counted; others are served', async () => {
  const n = await node();
  const bystander = keep(await connect(n, 'bystander-iso'));
  const victim = keep(await connect(n, 'victim'));
  // A fault no input should be able to cause: the engine throws synchronously inside the join handler.
  const original = n.engine.roomJoin.bind(n.engine);
  n.engine.roomJoin = () => {
    throw new Error('injected fault');
  };
  try {
    victim.send({ type: 'join', room: 'boom' });
    const closed = await victim.waitClosed();
    assert.equal(closed.code, CloseCode.InternalError);
    assert.equal(closed.reason, 'internal error');
  } finally {
    n.engine.roomJoin = original;
  }
  assert.equal(bystander.closed, undefined);
  assert.equal((await publish(n, { to: { user: 'bystander-iso' }, data: 'still here' })).status, 200);
  await bystander.waitFor((f) => f.type === 'message' && f.data === 'still here');
  const m = await scrape(n);
  assert.ok(m.value('herald_uncaught_errors_total', { kind: 'frame_handler' }) >= 1);
});

test('an asynchronous frame handler that rejects unexpectedly closes its connection 1011 (token refresh)', async () => {
  const n = await node();
  const c = keep(await connect(n, 'async-victim', { rooms: ['lobby', 'ops'] }));
  assert.equal((await c.request({ type: 'join', room: 'ops' })).type, 'reply');
  const original = n.engine.roomLeave.bind(n.engine);
  n.engine.roomLeave = () => {
    throw new Error('injected fault');
  };
  try {
    c.send({ type: 'auth', token: await token('async-victim', { rooms: ['lobby'] }) });
    assert.equal((await c.waitClosed()).code, CloseCode.InternalError);
  } finally {
    n.engine.roomLeave = original;
  }
  await stillServing(n, 'after-async');
});

// ---------------------------------------------------------------- item 6: every frame counts

const FLOOD = 1000;
const RATE = { frameRatePerUser: 1, frameBurstPerUser: 5 };

/** Sends `FLOOD` copies of a frame and expects 4008 with at most the burst answered. */
async function floodTrips4008(c: TestClient, send: () => void, answered: () => number): Promise<void> {
  for (let i = 0; i < FLOOD; i++) send();
  const closed = await c.waitClosed();
  assert.equal(closed.code, CloseCode.RateLimited, closed.reason);
  // The burst (5) plus at most one refill: nowhere near one answer per frame.
  assert.ok(answered() <= 10, `answered ${answered()} of ${FLOOD}`);
}

test('1,000 bare "ping" texts trip 4008', async () => {
  const n = await node(RATE);
  const c = keep(await connect(n, 'flood-ping'));
  await floodTrips4008(c, () => c.send('ping'), () => c.raw.filter((t) => t === 'pong').length);
});

test('1,000 WebSocket protocol pings trip 4008', async () => {
  const n = await node(RATE);
  const c = keep(await connect(n, 'flood-wsping'));
  let pongs = 0;
  c.ws.on('pong', () => pongs++);
  await floodTrips4008(c, () => c.ws.readyState === 1 && c.ws.ping(), () => pongs);
});

test('1,000 unknown-type frames trip 4008', async () => {
  const n = await node(RATE);
  const c = keep(await connect(n, 'flood-unknown'));
  await floodTrips4008(c, () => c.send({ type: 'teleport' }), () => c.frames.filter((f) => f.type === 'error').length);
});

test('1,000 frames with bad fields trip 4008', async () => {
  const n = await node(RATE);
  const c = keep(await connect(n, 'flood-badfield'));
  await floodTrips4008(c, () => c.send({ type: 'join', room: '' }), () => c.frames.filter((f) => f.type === 'error').length);
});

test('1,000 acks beyond the last sent seq trip 4008', async () => {
  const n = await node(RATE);
  const c = keep(await connect(n, 'flood-ack'));
  await floodTrips4008(c, () => c.send({ type: 'ack', seq: 999 }), () => c.frames.filter((f) => f.type === 'error').length);
});

test('1,000 ill-formed acks trip 4008', async () => {
  const n = await node(RATE);
  const c = keep(await connect(n, 'flood-badack'));
  await floodTrips4008(c, () => c.send({ type: 'ack', seq: 'x' }), () => c.frames.filter((f) => f.type === 'error').length);
});

test('protocol v2: 1,000 frames with bad fields trip 4008', async () => {
  const n = await node(RATE);
  const c = keep(await connectV2(n, 'flood-v2'));
  for (let i = 0; i < FLOOD; i++) c.sendFrame({ type: 'join', room: '' });
  const closed = await c.waitClosed();
  assert.equal(closed.code, CloseCode.RateLimited, closed.reason);
  assert.ok(c.frames.filter((f) => f.type === 'error').length <= 10);
});

test('valid acks stay free under the same rate', async () => {
  const n = await node(RATE);
  const c = keep(await connect(n, 'acker-free'));
  for (let i = 0; i < 30; i++) await publish(n, { to: { user: 'acker-free' }, data: i });
  await c.waitForCount((f) => f.type === 'message', 30);
  await waitUntil(() => n.gateway.registry.device('default', 'acker-free', 'default')?.reliable?.position.acked === 30 || undefined, 3000, 'acks');
  // Re-acking what was acknowledged is still valid: free too.
  for (let i = 0; i < 30; i++) c.send({ type: 'ack', seq: 30 });
  assert.equal((await c.request({ type: 'join', room: 'r' })).type, 'reply');
  assert.equal(c.closed, undefined);
});

test('frames before the welcome do not escape the count: a pipelined flood behind the token trips 4008', async () => {
  const n = await node(RATE);
  const tok = await token('early-flood');
  const c = keep(open(n, { token: tok }));
  c.ws.on('open', () => {
    for (let i = 0; i < 16; i++) c.send('ping');
  });
  assert.equal((await c.waitClosed()).code, CloseCode.RateLimited);
});

// ---------------------------------------------------------------- item 10: refresh narrows rooms

test('a token refresh to rooms ["lobby"] leaves "ops": a leave event, no more ops messages, no ops publish', async () => {
  const n = await node();
  const c = keep(await connect(n, 'narrowed', { rooms: ['lobby', 'ops'] }));
  const member = keep(await connect(n, 'ops-member'));
  for (const room of ['lobby', 'ops']) assert.equal((await c.request({ type: 'join', room })).type, 'reply');
  assert.equal((await member.request({ type: 'join', room: 'ops' })).type, 'reply');
  // Before the refresh, ops reaches the connection.
  assert.equal((await member.request({ type: 'publish', room: 'ops', data: 'before' })).type, 'reply');
  await c.waitFor((f) => f.type === 'message' && f.room === 'ops' && f.data === 'before');

  const reply = await c.request({ type: 'auth', token: await token('narrowed', { rooms: ['lobby'] }) });
  assert.equal(reply.type, 'reply');
  const leave = await c.waitFor((f) => f.type === 'leave' && f.room === 'ops', 3000, 'leave event to the client');
  assert.deepEqual(leave, { type: 'leave', room: 'ops', user: 'narrowed', device: 'default' });
  // The other members see the normal leave.
  await member.waitFor((f) => f.type === 'leave' && f.room === 'ops' && f.user === 'narrowed', 3000, 'leave event to members');

  // ops no longer reaches it; lobby still does (sent after, so its arrival bounds the wait).
  assert.equal((await member.request({ type: 'publish', room: 'ops', data: 'after' })).type, 'reply');
  assert.equal((await publish(n, { to: { room: 'lobby' }, data: 'lobby-after' })).status, 200);
  await c.waitFor((f) => f.type === 'message' && f.data === 'lobby-after');
  assert.equal(c.frames.filter((f) => f.type === 'message' && f.data === 'after').length, 0);
  // It can neither publish to ops nor join it again.
  assert.equal((await c.request({ type: 'publish', room: 'ops', data: 'x' })).code, 'not_joined');
  assert.equal((await c.request({ type: 'join', room: 'ops' })).code, 'room_forbidden');
  // The room's presence no longer lists it.
  const members = (await c.request({ type: 'presence', room: 'lobby' })).members as { user: string }[];
  assert.ok(members.some((m) => m.user === 'narrowed'));
  const ops = await api(n, 'GET', '/api/v1/rooms/ops/presence');
  assert.ok(!JSON.stringify(ops.body).includes('narrowed'), JSON.stringify(ops.body));
});
