/** Connection lifecycle: auth paths, replacement, heartbeat timeout, indexes left clean. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { CloseCode } from '@herald/protocol';
import type { HeraldNode } from '../../src/node.js';
import { connect, open, startNode, token, waitUntil, SECRET } from '../helpers/harness.js';
import { createSecretKey } from 'node:crypto';

let node: HeraldNode;

before(async () => {
  node = await startNode({ heartbeatMs: 300, authTimeoutMs: 300 });
});
after(async () => {
  await node.close();
});

test('welcome carries identity, node and heartbeat; platform is counted', async () => {
  const c = await connect(node, 'u1', { tenant: 't1', device: 'pos-9', platform: 'pos' });
  const w = c.frames[0]!;
  assert.equal(w.type, 'welcome');
  assert.equal(w.user, 'u1');
  assert.equal(w.tenant, 't1');
  assert.equal(w.device, 'pos-9');
  assert.equal(w.node, node.nodeId);
  assert.equal(w.heartbeat_ms, 300);
  assert.equal(node.gateway.registry.platforms.pos, 1);
  c.close();
  await c.waitClosed();
  await waitUntil(() => node.gateway.registry.platforms.pos === 0, 2000, 'platform count back to 0');
});

test('token in a first auth frame works; JSON and bare-text ping are answered', async () => {
  const c = open(node, { device: 'd1' });
  await waitUntil(() => c.opened, 2000, 'open');
  c.send({ type: 'auth', token: await token('u2') });
  await c.waitFor((f) => f.type === 'welcome');
  c.send({ type: 'ping' });
  await c.waitFor((f) => f.type === 'pong');
  c.send('ping');
  await waitUntil(() => c.raw.includes('pong'), 2000, 'bare pong');
  c.close();
});

test('no auth frame within the auth timeout closes 4001', async () => {
  const c = open(node);
  const closed = await c.waitClosed(3000);
  assert.equal(closed.code, CloseCode.Unauthorized);
});

test('a first frame other than auth closes 4001', async () => {
  const c = open(node);
  await waitUntil(() => c.opened, 2000, 'open');
  c.send({ type: 'join', room: 'x' });
  assert.equal((await c.waitClosed()).code, CloseCode.Unauthorized);
});

test('bad tokens close 4001: missing-signature, wrong secret, expired, alg none, RS-key confusion', async () => {
  const wrong = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('x').setExpirationTime('1h').sign(createSecretKey(Buffer.from('another-secret-entirely-123')));
  const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('x').setExpirationTime(Math.floor(Date.now() / 1000) - 3600).sign(createSecretKey(Buffer.from(SECRET)));
  const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('x').sign(createSecretKey(Buffer.from(SECRET)));
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'x', exp: Math.floor(Date.now() / 1000) + 3600 })}.`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rs = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('x').setExpirationTime('1h').sign(privateKey);
  const future = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('x').setExpirationTime('2h').setNotBefore('1h').sign(createSecretKey(Buffer.from(SECRET)));
  for (const [name, tok] of Object.entries({ garbage: 'not.a.jwt', wrong, expired, noExp, none, rs, future })) {
    const c = open(node, { token: tok });
    const closed = await c.waitClosed();
    assert.equal(closed.code, CloseCode.Unauthorized, `${name}: ${closed.reason}`);
    assert.ok(!closed.reason.includes(tok), 'reason never echoes the token');
  }
});

test('device mismatch with the did claim closes 4003; absent device adopts did', async () => {
  const tok = await token('u3', { device: 'phone' });
  const bad = open(node, { token: tok, device: 'laptop' });
  assert.equal((await bad.waitClosed()).code, CloseCode.Forbidden);
  const good = open(node, { token: tok });
  const w = await good.waitFor((f) => f.type === 'welcome');
  assert.equal(w.device, 'phone');
  good.close();
});

test('bad handshake parameters close 4000 naming the parameter', async () => {
  const tok = await token('u4');
  for (const [q, name] of [
    [{ device: 'bad device!' }, 'device'],
    [{ platform: 'toaster' }, 'platform'],
    [{ last_seq: '-1' }, 'last_seq'],
    [{ last_seq: 'abc' }, 'last_seq'],
  ] as const) {
    const c = open(node, { token: tok, ...q });
    const closed = await c.waitClosed();
    assert.equal(closed.code, CloseCode.ProtocolError);
    assert.match(closed.reason, new RegExp(name));
  }
});

test('the same user+device connecting again replaces the older connection with 4004', async () => {
  const first = await connect(node, 'u5', { device: 'tablet' });
  const other = await connect(node, 'u5', { device: 'phone' });
  const second = await connect(node, 'u5', { device: 'tablet' });
  assert.equal((await first.waitClosed()).code, CloseCode.Replaced);
  // The other device and the new connection are untouched.
  assert.equal(other.closed, undefined);
  assert.equal(second.closed, undefined);
  const devices = node.gateway.registry.userDevices('default', 'u5').map((d) => d.device).sort();
  assert.deepEqual(devices, ['phone', 'tablet']);
  assert.equal(node.gateway.registry.device('default', 'u5', 'tablet')?.id, second.frames[0]!.conn);
  other.close();
  second.close();
});

test('a silent connection is closed 4010 and leaves no trace in any index', async () => {
  const node = await startNode({ heartbeatMs: 300 });
  const before = node.gateway.registry.indexSizes();
  // autoPong off: the client ignores protocol pings, like a dead peer.
  const c = await connect(node, 'silent', { tenant: 'quiet', wsOptions: { autoPong: false } });
  assert.equal((await c.request({ type: 'join', room: 'hush' })).type, 'reply');
  assert.equal(node.gateway.registry.roomSize('quiet', 'hush'), 1);
  const closed = await c.waitClosed(5000);
  assert.equal(closed.code, CloseCode.HeartbeatTimeout);
  await waitUntil(() => node.gateway.registry.indexSizes().conns === before.conns, 2000, 'registry cleanup');
  assert.deepEqual(node.gateway.registry.indexSizes(), before);
  assert.equal(node.gateway.registry.roomSize('quiet', 'hush'), 0);
  assert.equal(node.gateway.registry.device('quiet', 'silent', 'default'), undefined);
  await node.close();
});

test('a client that pings stays connected past the heartbeat deadline', async () => {
  const c = await connect(node, 'chatty', { wsOptions: { autoPong: false } });
  const until = Date.now() + 1000; // > 3 heartbeats of 300 ms
  while (Date.now() < until) {
    c.send({ type: 'ping' });
    await c.waitForCount((f) => f.type === 'pong', c.frames.filter((f) => f.type === 'pong').length + 1, 2000, 'pong');
    await new Promise((r) => setTimeout(r, 100)); // pacing the client's own pings, not synchronisation
  }
  assert.equal(c.closed, undefined);
  c.close();
});

test('frames pipelined behind the auth frame are handled after the welcome, in order', async () => {
  const c = open(node);
  await waitUntil(() => c.opened, 2000, 'open');
  // One write: auth, then two requests, before any answer can arrive.
  c.ws.send(JSON.stringify({ type: 'auth', token: await token('pipeliner') }));
  c.ws.send(JSON.stringify({ type: 'join', room: 'fast', id: 'j' }));
  c.ws.send(JSON.stringify({ type: 'ping' }));
  await c.waitFor((f) => f.type === 'pong');
  assert.deepEqual(
    c.frames.map((f) => f.type),
    ['welcome', 'reply', 'join', 'pong'],
  );
  c.close();
});

test('a peer that ignores the server close is dropped after the grace period (no lingering socket)', async () => {
  const node = await startNode({ authTimeoutMs: 300 });
  const base = node.gateway.liveCount;
  const c = open(node);
  await waitUntil(() => c.opened, 2000, 'open');
  // Stop reading: the client will never see the 4001 close frame, let alone answer it.
  (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  await waitUntil(() => node.gateway.liveCount === base + 1 || undefined, 2000, 'counted');
  // auth timeout (300 ms) + close grace (2 s), well inside ws's own 30 s close timeout.
  await waitUntil(() => node.gateway.liveCount === base || undefined, 6000, 'socket dropped');
  c.ws.terminate();
  await node.close();
});
