/**
 * A connect's writes (issue 20, connects/s): on the memory engine the 101 response and the welcome
 * leave the server in one write system call, and a refusal after the upgrade still reaches the
 * client with its close code and reason.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { CloseCode } from '@herald/protocol';
import { connect, nodeFactory, open, token } from '../helpers/harness.js';

const node = nodeFactory();

/** Counts the write system calls (net.Socket#_writeGeneric: one write or writev) of sockets accepted on `port`. */
function countServerWrites(port: number): { counts: Map<Socket, number>; restore(): void } {
  const proto = Socket.prototype as unknown as { _writeGeneric: (...args: unknown[]) => unknown };
  const original = proto._writeGeneric;
  const counts = new Map<Socket, number>();
  proto._writeGeneric = function (this: Socket, ...args: unknown[]) {
    if (this.localPort === port && this.remotePort !== port) counts.set(this, (counts.get(this) ?? 0) + 1);
    return original.apply(this, args);
  };
  return { counts, restore: () => void (proto._writeGeneric = original) };
}

test('the 101 response and the welcome leave in one write', async () => {
  const n = await node();
  const spy = countServerWrites(n.port);
  after(() => spy.restore());
  try {
    const clients = [];
    for (let i = 0; i < 5; i++) clients.push(await connect(n, `w${i}`));
    for (const c of clients) assert.equal(c.frames[0]!.type, 'welcome');
    // Five server sockets, each written once up to its welcome (before: the 101, then the welcome).
    assert.equal(spy.counts.size, 5);
    assert.deepEqual([...spy.counts.values()], [1, 1, 1, 1, 1]);
    for (const c of clients) c.close();
  } finally {
    spy.restore();
  }
});

test('a refusal after the upgrade still closes with its code and reason', async () => {
  const n = await node({ maxConnections: 1 });
  const first = await connect(n, 'only');
  const second = open(n, { token: await token('second') });
  const closed = await second.waitClosed();
  assert.equal(closed.code, CloseCode.ConnectionLimit);
  assert.equal(closed.reason, 'connection limit of this node reached (1)');
  const bad = open(n, { token: await token('third'), device: 'bad device' });
  const refused = await bad.waitClosed();
  assert.equal(refused.code, CloseCode.ProtocolError);
  first.close();
});

test('an engine failure during activation closes that connection 1013 with its reason; the next connect is served', async () => {
  const n = await node();
  const engine = n.engine as unknown as { readAfter: (...a: unknown[]) => unknown };
  const readAfter = engine.readAfter;
  engine.readAfter = () => Promise.reject(new Error('engine down (test)'));
  try {
    const c = open(n, { token: await token('unlucky') });
    const closed = await c.waitClosed();
    assert.equal(closed.code, CloseCode.TryAgainLater);
    assert.equal(closed.reason, 'engine unavailable, try again later');
  } finally {
    engine.readAfter = readAfter;
  }
  const ok = await connect(n, 'lucky');
  assert.equal(ok.frames[0]!.type, 'welcome');
  ok.close();
});
