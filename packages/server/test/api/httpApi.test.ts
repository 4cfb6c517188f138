/** HTTP API: auth, validation naming the field, limits, batch, disconnect, health. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode } from '@herald/protocol';
import type { HeraldNode } from '../../src/node.js';
import { api, connect, publish, startNode } from '../helpers/harness.js';

let node: HeraldNode;
before(async () => {
  node = await startNode({ httpMaxBodyBytes: 4096, maxMessageBytes: 1024, batchMaxMessages: 3 });
});
after(async () => {
  await node.close();
});

test('missing or wrong API key: 401 with a JSON error', async () => {
  for (const headers of [{ authorization: '' }, { authorization: 'Bearer wrong-key' }, { authorization: 'Basic abc' }]) {
    const r = await api(node, 'POST', '/api/v1/publish', { to: { all: true }, data: 1 }, headers);
    assert.equal(r.status, 401);
    assert.equal((r.body.error as { code: string }).code, 'unauthorized');
  }
});

test('unknown route 404 and wrong method 405, as JSON', async () => {
  const r = await api(node, 'GET', '/api/v1/nothing');
  assert.equal(r.status, 404);
  assert.equal((r.body.error as { code: string }).code, 'not_found');
  const m = await api(node, 'GET', '/api/v1/publish');
  assert.equal(m.status, 405);
});

test('bodies that are not JSON or fail the schema: 400 naming the field', async () => {
  const cases: [unknown, string][] = [
    ['{oops', 'body'],
    [[], 'body'],
    [{ data: 1 }, 'to'],
    [{ to: { user: 'a' } }, 'data'],
    [{ to: { user: '' }, data: 1 }, 'to.user'],
    [{ to: { user: 'a', device: 'bad device' }, data: 1 }, 'to.device'],
    [{ to: { room: 'r' }, data: 1, reliable: true }, 'reliable'],
    [{ to: { user: 'a' }, data: 1, ttl: -5 }, 'ttl'],
    [{ to: { user: 'a' }, data: 1, extra: true }, 'extra'],
    [{ to: { all: false }, data: 1 }, 'to'],
  ];
  for (const [body, field] of cases) {
    const r = await publish(node, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    const err = r.body.error as { code: string; message: string; field?: string };
    if (field === 'body') assert.equal(err.code, typeof body === 'string' ? 'bad_json' : 'invalid_field');
    else {
      assert.ok(err.field?.startsWith(field), `${JSON.stringify(body)}: field ${err.field} should name ${field}`);
      assert.match(err.message, new RegExp(field.split('.')[0]!));
    }
  }
});

test('a body over the limit is 413; data over the message limit is 413 naming data', async () => {
  const big = await publish(node, { to: { all: true }, data: 'x'.repeat(5000) });
  assert.equal(big.status, 413);
  const data = await publish(node, { to: { all: true }, data: 'x'.repeat(2000) });
  assert.equal(data.status, 413);
  assert.equal((data.body.error as { field: string }).field, 'data');
});

test('batch: per-item results, limit on count', async () => {
  const c = await connect(node, 'batcher');
  const r = await api(node, 'POST', '/api/v1/publish/batch', {
    messages: [{ to: { user: 'batcher' }, data: 1 }, { to: { user: '' }, data: 2 }, { to: { user: 'batcher' }, data: 3 }],
  });
  assert.equal(r.status, 200);
  const results = r.body.results as { ok: boolean; seq?: Record<string, number>; error?: { field: string } }[];
  assert.deepEqual(results.map((x) => x.ok), [true, false, true]);
  assert.equal(results[1]!.error!.field, 'messages.1.to.user');
  assert.ok(results[2]!.seq!.batcher! > results[0]!.seq!.batcher!);
  await c.waitForCount((f) => f.type === 'message', 2);
  assert.deepEqual(c.messages().map((m) => m.data), [1, 3]);
  const tooMany = await api(node, 'POST', '/api/v1/publish/batch', { messages: [1, 2, 3, 4].map((d) => ({ to: { all: true }, data: d })) });
  assert.equal(tooMany.status, 400);
  assert.equal((tooMany.body.error as { field: string }).field, 'messages');
  c.close();
});

test('disconnect closes the user\'s (or one device\'s) connections with 4011', async () => {
  const phone = await connect(node, 'kicked', { device: 'phone' });
  const laptop = await connect(node, 'kicked', { device: 'laptop' });
  const r = await api(node, 'POST', '/api/v1/disconnect', { user: 'kicked', device: 'phone', reason: 'bye' });
  assert.equal(r.status, 200);
  const closed = await phone.waitClosed();
  assert.equal(closed.code, CloseCode.ServerDisconnect);
  assert.equal(closed.reason, 'bye');
  assert.equal(laptop.closed, undefined);
  await api(node, 'POST', '/api/v1/disconnect', { user: 'kicked' });
  assert.equal((await laptop.waitClosed()).code, CloseCode.ServerDisconnect);
  const bad = await api(node, 'POST', '/api/v1/disconnect', { usr: 'x' });
  assert.equal(bad.status, 400);
});

test('healthz, readyz and metrics answer without a key', async () => {
  assert.equal((await fetch(node.url + '/healthz')).status, 200);
  const ready = await fetch(node.url + '/readyz');
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { ready: true, engine: 'up', draining: false });
  const metrics = await (await fetch(node.url + '/metrics')).text();
  assert.match(metrics, /herald_connects_total/);
  assert.match(metrics, /herald_http_requests_total\{route="publish",status="400"/);
});
