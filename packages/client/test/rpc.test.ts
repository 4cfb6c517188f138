/** client.rpc against the real server and a real HTTP backend (the RPC hook), and the connect-hook path (tokenTransport "none"). */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { HeraldError, isRpcError } from '../src/index.js';
import { client, token, withNode } from './helpers/realServer.js';

const answers: Record<string, (body: Record<string, unknown>, res: ServerResponse) => void> = {
  rpc: (body, res) => {
    if (body.method === 'fail') return send(res, { error: { code: 'no_stock', message: 'sold out' } });
    if (body.method === 'slow') return void setTimeout(() => send(res, { data: 'late' }), 300);
    send(res, { data: { got: body.data, user: body.user } });
  },
  connect: (body, res) => {
    const cookie = (body.headers as Record<string, string>).cookie;
    send(res, cookie === 'sid=ok' ? { user: 'cookie-user' } : { reject: { code: 4001, reason: 'log in first' } });
  },
};
function send(res: ServerResponse, obj: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
}
const backend = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => answers[(req.url ?? '/').slice(1)]!(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>, res));
});
await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/`;
after(() => {
  backend.closeAllConnections();
  backend.close();
});

test('rpc resolves with the backend data; backend errors, no hook and bad methods are typed errors', () =>
  withNode({ hookRpcUrl: base + 'rpc' }, async (node, clients) => {
    const c = client(node, { token: await token(node, 'alice') });
    clients.push(c);
    await c.connect();
    assert.deepEqual(await c.rpc('cart.add', { sku: 1 }), { got: { sku: 1 }, user: 'alice' });
    const err = await c.rpc('fail').catch((e: unknown) => e);
    assert.ok(err instanceof HeraldError);
    assert.equal(err.code, 'server');
    assert.equal(err.serverCode, 'no_stock');
    assert.ok(isRpcError(err, 'no_stock'));
    const bad = await c.rpc('not a method').catch((e: unknown) => e);
    assert.ok(bad instanceof HeraldError && bad.code === 'invalid_argument');
    const late = await c.rpc('slow', null, { timeout: 50 }).catch((e: unknown) => e);
    assert.ok(late instanceof HeraldError && late.code === 'timeout');
  }));

test('rpc on a server without an RPC hook: serverCode not_supported', () =>
  withNode({}, async (node, clients) => {
    const c = client(node, { token: await token(node, 'bob') });
    clients.push(c);
    await c.connect();
    const err = await c.rpc('x').catch((e: unknown) => e);
    assert.ok(isRpcError(err, 'not_supported'));
  }));

/** A `ws` WebSocket that sends a cookie, as a browser does on a same-site upgrade. */
function cookieSocket(cookie: string): typeof WebSocket {
  return class extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols ?? [], { headers: { cookie } });
    }
  } as typeof WebSocket;
}

test('tokenTransport "none": the connect hook authenticates by cookie; a rejection stops the client (unauthorized)', () =>
  withNode({ hookConnectUrl: base + 'connect' }, async (node, clients) => {
    const ok = client(node, { tokenTransport: 'none', WebSocket: cookieSocket('sid=ok') });
    clients.push(ok);
    const welcome = await ok.connect();
    assert.equal(welcome.user, 'cookie-user');
    const refused = client(node, { tokenTransport: 'none', WebSocket: cookieSocket('sid=nope') });
    clients.push(refused);
    const err = await refused.connect().catch((e: unknown) => e);
    assert.ok(err instanceof HeraldError);
    assert.equal(err.code, 'unauthorized');
    assert.equal(err.closeCode, 4001);
  }));
