/** Join and publish hooks against a real HTTP backend: allow/deny, replaced data, ordering, refusals reach nobody. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, nodeFactory } from '../helpers/harness.js';
import { json, startBackend } from './backend.js';

const backend = await startBackend();
const node = nodeFactory();
const n = await node({ hookJoinUrl: backend.url('join'), hookPublishUrl: backend.url('publish') });

backend.on('join', (body, res) => {
  if (String(body.room).startsWith('vip')) json(res, { allow: false, reason: 'members only' });
  // A slow decision for `slow*` rooms: later frames must not overtake it.
  else if (String(body.room).startsWith('slow')) setTimeout(() => json(res, { allow: true }), 150);
  else json(res, { allow: true });
});
backend.on('publish', (body, res) => {
  const data = body.data as { text?: string };
  if (data.text === 'spam') json(res, { allow: false, reason: 'moderated' });
  else if (data.text === 'shout') json(res, { allow: true, data: { text: 'SHOUT', by: body.user } });
  else if (data.text === 'bloat') json(res, { allow: true, data: 'x'.repeat(3000) });
  else json(res, { allow: true });
});

test('join: the backend allows or refuses (error forbidden with its reason); it gets tenant, user, device, room', async () => {
  const c = await connect(n, 'u1', { device: 'd1', tenant: 't1' });
  assert.equal((await c.request({ type: 'join', room: 'open' })).type, 'reply');
  const s = backend.seen.filter((x) => x.path === 'join').at(-1)!;
  assert.deepEqual(s.body, { tenant: 't1', user: 'u1', device: 'd1', room: 'open' });
  const refused = await c.request({ type: 'join', room: 'vip' });
  assert.equal(refused.type, 'error');
  assert.equal(refused.code, 'forbidden');
  assert.equal(refused.message, 'members only');
  c.close();
});

test('join: a refusal by the token claim is final, the hook is not asked', async () => {
  const c = await connect(n, 'u2', { rooms: ['mine'] });
  const before = backend.count('join');
  assert.equal((await c.request({ type: 'join', room: 'open' })).code, 'room_forbidden');
  assert.equal(backend.count('join'), before);
  c.close();
});

test('ordering: a publish right behind a slow join is not overtaken; two joins in flight end joined once', async () => {
  const c = await connect(n, 'u3');
  c.sendFrame({ type: 'join', room: 'slow1', id: 'j1' });
  c.sendFrame({ type: 'join', room: 'slow1', id: 'j2' });
  c.sendFrame({ type: 'publish', room: 'slow1', data: { text: 'hi' }, id: 'p1' });
  const p = await c.waitFor((f) => f.id === 'p1');
  assert.equal(p.type, 'reply', 'the publish waited for the join');
  assert.equal(c.frames.find((f) => f.id === 'j1')!.type, 'reply');
  assert.equal(c.frames.find((f) => f.id === 'j2')!.type, 'reply');
  assert.equal(c.frames.filter((f) => f.type === 'join' && f.room === 'slow1').length, 1, 'one presence join event');
  c.close();
});

test('publish: members see the replaced data; a refused publish reaches nobody (error frame to the publisher)', async () => {
  const a = await connect(n, 'pa');
  const b = await connect(n, 'pb');
  await a.request({ type: 'join', room: 'chat' });
  await b.request({ type: 'join', room: 'chat' });
  const refused = await a.request({ type: 'publish', room: 'chat', data: { text: 'spam' } });
  assert.equal(refused.type, 'error');
  assert.equal(refused.code, 'forbidden');
  assert.equal(refused.message, 'moderated');
  assert.equal((await a.request({ type: 'publish', room: 'chat', data: { text: 'shout' } })).type, 'reply');
  assert.equal((await a.request({ type: 'publish', room: 'chat', data: { text: 'plain' } })).type, 'reply');
  const got = await b.waitForCount((f) => f.type === 'message', 2);
  assert.deepEqual(
    got.map((m) => m.data),
    [{ text: 'SHOUT', by: 'pa' }, { text: 'plain' }],
    'the refused one never arrived, the replaced one arrived replaced',
  );
  const s = backend.seen.filter((x) => x.path === 'publish').at(-1)!;
  assert.deepEqual(s.body, { tenant: 'default', user: 'pa', device: 'default', room: 'chat', data: { text: 'plain' } });
  a.close();
  b.close();
});

test('a failing join or publish hook answers error unavailable, the connection stays', async () => {
  const down = await node({ hookJoinUrl: backend.url('nothing-here'), hookPublishUrl: backend.url('nothing-here') });
  const c = await connect(down, 'u4');
  const r = await c.request({ type: 'join', room: 'x' });
  assert.equal(r.code, 'unavailable');
  assert.match(String(r.message), /status/);
  c.sendFrame({ type: 'ping' });
  await c.waitFor((f) => f.type === 'pong');
  assert.equal(c.closed, undefined);
  c.close();
});

test('room frames waiting behind a hook are bounded per connection (hookMaxPendingPerConnection): the excess gets rate_limited', async () => {
  const tight = await node({ hookJoinUrl: backend.url('join'), hookMaxPendingPerConnection: 2 });
  const c = await connect(tight, 'u5');
  c.sendFrame({ type: 'join', room: 'slow2', id: 'a' });
  c.sendFrame({ type: 'join', room: 'slow3', id: 'b' });
  c.sendFrame({ type: 'join', room: 'slow4', id: 'c' });
  const third = await c.waitFor((f) => f.id === 'c');
  assert.equal(third.code, 'rate_limited');
  assert.equal((await c.waitFor((f) => f.id === 'b')).type, 'reply');
  c.close();
});

test('a failing publish hook, or replaced data over maxMessageBytes: error unavailable, and the publish reaches nobody', async () => {
  const down = await node({ hookPublishUrl: backend.url('nothing-here') });
  const small = await node({ hookPublishUrl: backend.url('publish'), maxMessageBytes: 1024 });
  for (const [n2, text] of [
    [down, 'hello'],
    [small, 'bloat'],
  ] as const) {
    const a = await connect(n2, 'fa');
    const b = await connect(n2, 'fb');
    await a.request({ type: 'join', room: 'r' });
    await b.request({ type: 'join', room: 'r' });
    const r = await a.request({ type: 'publish', room: 'r', data: { text } });
    assert.equal(r.code, 'unavailable', text);
    // A publish without the hook's say would have arrived before this presence answer; nothing did.
    await b.request({ type: 'presence', room: 'r' });
    assert.equal(b.messages().length, 0, text);
    assert.equal(a.messages().length, 0, text);
    a.close();
    b.close();
  }
});
