/** The rpc frame and the RPC hook against a real HTTP backend, over v1 and v2. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, nodeFactory } from '../helpers/harness.js';
import { connectV2 } from '../protocol/v2Client.js';
import { hang, json, startBackend } from './backend.js';

const backend = await startBackend();
const node = nodeFactory();
const n = await node({ hookRpcUrl: backend.url('rpc'), hookMaxPendingPerConnection: 2, hookRpcTimeoutMs: 3000 });

backend.on('rpc', (body, res) => {
  if (body.method === 'hang') return hang(body, res, undefined as never);
  if (body.method === 'fail') return json(res, { error: { code: 'no_stock', message: 'sold out' } });
  json(res, { data: { echo: body.data, method: body.method, user: body.user, tenant: body.tenant, device: body.device } });
});

test('rpc: the backend\'s data comes back as a reply with the frame id; its error as an error frame', async () => {
  const c = await connect(n, 'r1', { device: 'dev', tenant: 'acme' });
  const r = await c.request({ type: 'rpc', method: 'cart.add', data: { sku: 42 } });
  assert.equal(r.type, 'reply');
  assert.equal(r.ok, true);
  assert.deepEqual(r.data, { echo: { sku: 42 }, method: 'cart.add', user: 'r1', tenant: 'acme', device: 'dev' });
  const e = await c.request({ type: 'rpc', method: 'fail', data: null });
  assert.equal(e.type, 'error');
  assert.equal(e.code, 'no_stock');
  assert.equal(e.message, 'sold out');
  c.close();
});

test('rpc frames are validated: id required, method bounded', async () => {
  const c = await connect(n, 'r2');
  const before = backend.count('rpc');
  c.sendFrame({ type: 'rpc', method: 'x' });
  const noId = await c.waitFor((f) => f.type === 'error');
  assert.equal(noId.code, 'bad_field');
  assert.match(String(noId.message), /"id"/);
  assert.equal((await c.request({ type: 'rpc', method: 'a b' })).code, 'bad_field');
  assert.equal((await c.request({ type: 'rpc', method: 'm'.repeat(129) })).code, 'bad_field');
  assert.equal(backend.count('rpc'), before, 'nothing reached the backend');
  c.close();
});

test('rpc calls in flight per connection are bounded (hookMaxPendingPerConnection): the excess gets rate_limited', async () => {
  const c = await connect(n, 'r3');
  c.sendFrame({ type: 'rpc', method: 'hang', id: 'h1' });
  c.sendFrame({ type: 'rpc', method: 'hang', id: 'h2' });
  const third = await c.request({ type: 'rpc', method: 'echo' });
  assert.equal(third.code, 'rate_limited');
  backend.releaseHung();
  const h1 = await c.waitFor((f) => f.id === 'h1');
  assert.equal(h1.code, 'unavailable');
  assert.equal((await c.request({ type: 'rpc', method: 'echo' })).type, 'reply', 'slots are given back');
  c.close();
});

test('rpc over protocol v2 (frame type 0x50)', async () => {
  const c = await connectV2(n, 'r4');
  const r = await c.request({ type: 'rpc', method: 'v2.call', data: [1, 2] });
  assert.equal(r.type, 'reply');
  assert.deepEqual((r.data as { echo: unknown }).echo, [1, 2]);
  c.close();
});

test('no RPC hook configured: error not_supported', async () => {
  const plain = await node({});
  const c = await connect(plain, 'r5');
  assert.equal((await c.request({ type: 'rpc', method: 'x' })).code, 'not_supported');
  c.close();
});
