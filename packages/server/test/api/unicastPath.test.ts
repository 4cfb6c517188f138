/**
 * The unicast publish path made cheaper in issue 20 (docs/benchmarks.md, "Third round"): each
 * cheaper form must answer exactly what the one it replaced did — the request id on every reply
 * (once), the publish reply's JSON, the API-key check, the WebSocket text frame's bytes, the
 * quoting of ids in message frames, the registry's lone-member lookup.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApiKeyGuard } from '../../src/auth/apiKey.js';
import { publishReply } from '../../src/api/router.js';
import { textWireFrame } from '../../src/protocol/wireFrame.js';
import { wsFrame } from '../../src/protocol/wsInternals.js';
import { jsonString, messageFrame, batchFrame, reliableFrame } from '../../src/protocol/serverFrames.js';
import { EncodedFrame } from '../../src/protocol/encodedFrame.js';
import { sseEventOfText } from '../../src/protocol/sseFrames.js';
import { Registry } from '../../src/delivery/registry.js';
import type { DeliverySession } from '../../src/delivery/session.js';
import type { InboxMessage, Route } from '../../src/engine/types.js';
import { rawRequest } from '../security/rawHttp.js';
import { API_KEY, nodeFactory, publish, connect } from '../helpers/harness.js';

const node = nodeFactory();

test('ApiKeyGuard: only the exact key passes, whatever the length of what is presented', () => {
  const g = new ApiKeyGuard('k3y-0123456789');
  assert.equal(g.check('Bearer k3y-0123456789'), true);
  assert.equal(g.check('Bearer  k3y-0123456789 '), true, 'surrounding whitespace is trimmed, as before');
  for (const bad of [undefined, '', 'k3y-0123456789', 'bearer k3y-0123456789', 'Bearer ', 'Bearer k3y-012345678', 'Bearer k3y-01234567890', 'Bearer k3y-0123456788', 'Bearer K3Y-0123456789', 'Bearer k3y-0123456789k3y-0123456789', 'Bearer k3y-012345678\u00e9']) {
    assert.equal(g.check(bad), false, String(bad));
  }
  const multibyte = new ApiKeyGuard('clé-ünïcode');
  assert.equal(multibyte.check('Bearer clé-ünïcode'), true);
  assert.equal(multibyte.check('Bearer cle-unicode'), false);
});

test('publishReply is JSON.stringify of the result, with the same key order', () => {
  const id = randomUUID();
  const results = [
    { id, online: 0 },
    { id, online: 3 },
    { id },
    { id, seq: { u: 4 }, online: 1 },
    { id, offset: 12, epoch: 'e1', online: 2 },
    { id: 'odd "id"\\\n', online: 1 },
    { id: 'ünï', online: 1 },
    { id, online: Number.NaN },
  ];
  for (const r of results) assert.equal(publishReply(r), JSON.stringify(r));
});

/** A reliable result's seq as the publisher builds it: a null-prototype dictionary, users in insertion order. */
function seqOf(entries: [string, number][]): Record<string, number> {
  const seq = Object.create(null) as Record<string, number>;
  for (const [user, n] of entries) seq[user] = n;
  return seq;
}

test('publishReply of a reliable result (seq a null-prototype dictionary) is byte-identical to JSON.stringify, for every reply shape', () => {
  const id = randomUUID();
  const users: [string, number][][] = [
    [],
    [['u', 4]],
    [['alice', 1], ['bob', 2], ['carol', 3]],
    // Integer-like keys come first, ascending, whatever the insertion order: for…in and JSON.stringify agree.
    [['zed', 1], ['10', 2], ['2', 3], ['a', 4], ['0', 5], ['4294967295', 6], ['-1', 7], ['01', 8]],
    [['__proto__', 1], ['constructor', 2], ['toString', 3]],
    [['q"uote', 1], ['back\\slash', 2], ['tab\t', 3], ['\u0000', 4], ['é', 5], ['\ud800', 6], ['😀', 7], ['', 8]],
    [['u', 0], ['v', Number.MAX_SAFE_INTEGER]],
    // Not a safe integer: through JSON.stringify, which writes what it writes.
    [['u', 1.5]],
    [['u', Number.NaN]],
    [['u', 2 ** 60]],
  ];
  let n = 0;
  for (const u of users) {
    for (const rid of [id, 'odd "id"\\\n', 'ünï']) {
      for (const online of [undefined, 0, 7, 1.5, Number.POSITIVE_INFINITY]) {
        const r: { id: string; seq: Record<string, number>; online?: number } = { id: rid, seq: seqOf(u) };
        if (online !== undefined) r.online = online;
        assert.equal(publishReply(r), JSON.stringify(r), JSON.stringify(r));
        n++;
      }
    }
  }
  // The same shapes read back from an idempotency record (JSON.parse: plain objects) answer the same.
  const parsed = JSON.parse(JSON.stringify({ id, seq: seqOf([['b', 1], ['1', 2]]), online: 1 })) as { id: string; seq: Record<string, number>; online: number };
  assert.equal(publishReply(parsed), JSON.stringify(parsed));
  assert.ok(n > 100);
});

test('publishReply: random user ids and counts, against JSON.stringify', () => {
  const chars = ['a', 'Z', '0', '9', '"', '\\', '\n', ' ', 'é', '\u2028', '\ud83d', '\ude00', '_', ':', '-'];
  let seed = 12345;
  const rnd = (k: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % k);
  for (let i = 0; i < 500; i++) {
    const entries: [string, number][] = [];
    for (let j = rnd(5); j > 0; j--) {
      let user = '';
      for (let c = rnd(6); c > 0; c--) user += chars[rnd(chars.length)]!;
      entries.push([rnd(4) === 0 ? String(rnd(1000)) : user, rnd(1_000_000)]);
    }
    const r: { id: string; seq: Record<string, number>; online?: number } = { id: randomUUID(), seq: seqOf(entries) };
    if (rnd(2) === 0) r.online = rnd(50);
    assert.equal(publishReply(r), JSON.stringify(r));
  }
});

test('jsonString quotes exactly as JSON.stringify does', () => {
  for (const s of ['', randomUUID(), 'room:a/b@c', 'with space', 'q"uote', 'back\\slash', 'tab\t', '\u0000', '\u007f', '\u001f', ' !#[]~', 'é', '\ud800', '😀', '</script>']) {
    assert.equal(jsonString(s), JSON.stringify(s), JSON.stringify(s));
  }
  const m = { id: randomUUID(), ts: 1, event: 'e"v', room: 'r', from: 'ü', data: '{"a":1}' };
  assert.deepEqual(JSON.parse(messageFrame(m)), { type: 'message', id: m.id, event: m.event, room: 'r', from: 'ü', data: { a: 1 }, ts: 1 });
});

test('textWireFrame: the same bytes as ws Sender.frame, for every length class', () => {
  const texts = ['', 'a', 'x'.repeat(125), 'x'.repeat(126), 'é'.repeat(63), 'é'.repeat(64), 'x'.repeat(65_535), 'x'.repeat(65_536), 'y'.repeat(70_000), '😀 lone \ud800 surrogate'];
  for (const t of texts) {
    const expected = Buffer.concat(wsFrame(Buffer.from(t, 'utf8'), { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false }));
    assert.ok(textWireFrame(t).equals(expected), `length ${t.length}`);
  }
});

test('EncodedFrame: text, batch and reliable frames give the texts and SSE events they gave before', () => {
  const text = messageFrame({ id: 'm1', ts: 5, data: '1' });
  const t = EncodedFrame.ofText(text);
  assert.equal(t.text(), text);
  assert.equal(t.sse(), sseEventOfText(text));
  assert.ok(t.frameFor(undefined).equals(textWireFrame(text)));
  assert.equal(t.frameFor(undefined), t.frameFor(undefined), 'built once');
  const b = EncodedFrame.ofBatch([text, text]);
  assert.equal(b.text(), batchFrame([text, text]));
  assert.equal(b.sse(), sseEventOfText(text) + sseEventOfText(text));
  const m = { id: 'r1', seq: 7, ts: 9, data: '"d"' } as InboxMessage;
  const r = EncodedFrame.ofReliable(m);
  assert.equal(r.text(), reliableFrame(m));
  assert.equal(r.sse(), sseEventOfText(reliableFrame(m), 7));
});

test('Registry.members: what lookup() reaches, without a list for a lone session', () => {
  const reg = new Registry('n1');
  const s = (id: string, user: string, device: string): DeliverySession => ({ id, user, device, tenant: 't', platform: 'web', state: 'active', connectedAt: 0 }) as unknown as DeliverySession;
  const a = s('c1', 'ann', 'd1');
  const b = s('c2', 'ann', 'd2');
  const c = s('c3', 'bob', 'd1');
  for (const x of [a, b, c]) reg.add(x);
  reg.join(c, 'r');
  const routes: Exclude<Route, { kind: 'all' }>[] = [
    { kind: 'user', tenant: 't', user: 'ann' },
    { kind: 'user', tenant: 't', user: 'bob' },
    { kind: 'user', tenant: 't', user: 'ann', device: 'd2' },
    { kind: 'user', tenant: 't', user: 'nobody' },
    { kind: 'room', tenant: 't', room: 'r' },
    { kind: 'room', tenant: 't', room: 'none' },
    { kind: 'tenant', tenant: 't' },
    { kind: 'tenant', tenant: 'other' },
  ];
  for (const r of routes) {
    const m = reg.members(r);
    const got = m === undefined ? [] : m instanceof Set ? [...m] : [m];
    assert.deepEqual(got, [...reg.lookup(r)], JSON.stringify(r));
  }
  assert.equal(reg.members({ kind: 'user', tenant: 't', user: 'bob' }), c, 'a lone session is itself');
});

test('every reply carries one x-request-id: JSON answers, errors, and routes that write their own', async () => {
  const n = await node();
  const port = Number(new URL(n.url).port);
  const c = await connect(n, 'ida');
  const body = JSON.stringify({ to: { user: 'ida' }, data: { k: 1 }, reliable: false });
  const send = (head: string, payload = ''): ReturnType<typeof rawRequest> => rawRequest(port, `${head}\r\nHost: x\r\nConnection: close\r\n${payload ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n` : ''}\r\n${payload}`);
  const cases = [
    { name: 'publish 200', reply: await send(`POST /api/v1/publish HTTP/1.1\r\nAuthorization: Bearer ${API_KEY}`, body), status: 200, json: true },
    { name: 'publish 401', reply: await send('POST /api/v1/publish HTTP/1.1\r\nAuthorization: Bearer nope', body), status: 401, json: true },
    { name: 'publish 400', reply: await send(`POST /api/v1/publish HTTP/1.1\r\nAuthorization: Bearer ${API_KEY}`, '{"to":{}}'), status: 400, json: true },
    { name: 'not found', reply: await send('GET /nowhere HTTP/1.1'), status: 404, json: true },
    { name: 'wrong method', reply: await send('GET /api/v1/publish HTTP/1.1'), status: 405, json: true },
    { name: 'query string', reply: await send('GET /healthz?x=1 HTTP/1.1'), status: 200, json: true },
    { name: 'metrics (own writeHead)', reply: await send('GET /metrics HTTP/1.1'), status: 200, json: false },
    { name: 'demo redirect (own writeHead)', reply: await send('GET /demo HTTP/1.1'), status: 302, json: false },
    { name: 'upstream id', reply: await send('GET /healthz HTTP/1.1\r\nX-Request-Id: up-42'), status: 200, json: true },
  ];
  for (const { name, reply, status, json } of cases) {
    assert.equal(reply.status, status, name);
    const ids = reply.text.split('\r\n\r\n')[0]!.split('\r\n').filter((l) => /^x-request-id:/i.test(l));
    assert.equal(ids.length, 1, `${name}: one x-request-id header`);
    if (json) {
      assert.equal(reply.headers['content-type'], 'application/json; charset=utf-8', name);
      assert.equal(reply.headers['cache-control'], 'no-store', name);
      assert.equal(Number(reply.headers['content-length']), Buffer.byteLength(reply.body), name);
      JSON.parse(reply.body);
    }
  }
  assert.equal(cases.at(-1)!.reply.headers['x-request-id'], 'up-42');
  const ok = JSON.parse(cases[0]!.reply.body) as { id: string; online: number };
  assert.deepEqual(Object.keys(ok), ['id', 'online']);
  assert.equal(ok.online, 1);
  await c.waitFor((f) => f.type === 'message' && f.id === ok.id);
  c.close();
});

test('the publish reply through the server: id and online, and the message reaches the user', async () => {
  const n = await node();
  const c = await connect(n, 'jo');
  const r = await publish(n, { to: { user: 'jo' }, data: { hello: 'world' }, reliable: false });
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.body), ['id', 'online']);
  const f = await c.waitFor((x) => x.type === 'message');
  assert.equal(f.id, r.body.id);
  assert.deepEqual(f.data, { hello: 'world' });
  const none = await publish(n, { to: { user: 'nobody-here' }, data: 1, reliable: false });
  assert.equal(none.body.online, 0);
  c.close();
});
