/**
 * Server-Sent Events (DESIGN.md §10) through a real node with a fetch-based
 * reader: welcome, reliable messages with `id: <seq>`, resume with
 * Last-Event-ID after a cut, POST acks moving the cursor, replacement 4004,
 * drain 1001, rooms, and exact 4xx answers for bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeFactory, publish, token, waitUntil, connect } from '../helpers/harness.js';
import { SseReader, sseUrl } from '../helpers/sseClient.js';

const node = nodeFactory();

async function ack(base: string, tok: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(base + '/sse/ack', { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

test('a stream gets the welcome, then reliable messages with id: <seq>, with no-buffering headers', async () => {
  const n = await node();
  const r = new SseReader(sseUrl(n.url, { token: await token('sa'), device: 'feed', platform: 'web' }));
  const w = await r.welcome();
  assert.equal(w.type, 'welcome');
  assert.equal(w.user, 'sa');
  assert.equal(w.device, 'feed');
  assert.equal(r.status, 200);
  assert.match(r.headers!.get('content-type') ?? '', /^text\/event-stream/);
  assert.equal(r.headers!.get('x-accel-buffering'), 'no');
  for (let i = 1; i <= 3; i++) await publish(n, { to: { user: 'sa' }, data: { i } });
  await r.waitFor((x) => x.seqs().length === 3, 5000, '3 messages');
  const msgs = r.events.filter((e) => e.event === 'message');
  assert.deepEqual(
    msgs.map((e) => e.id),
    ['1', '2', '3'],
  );
  assert.deepEqual(
    r.frames().map((f) => f.data),
    [{ i: 1 }, { i: 2 }, { i: 3 }],
  );
  assert.equal(n.gateway.registry.platforms.web, 1);
  r.abort();
  await waitUntil(() => n.gateway.registry.platforms.web === 0 || undefined, 3000, 'stream left the registry');
});

test('resume with Last-Event-ID after a cut replays exactly what followed; a POST ack moves the cursor and stops resends', async () => {
  const n = await node({ ackTimeoutMs: 200 });
  const tok = await token('sb');
  const first = new SseReader(sseUrl(n.url, { token: tok, device: 'd1' }));
  await first.welcome();
  for (let i = 1; i <= 3; i++) await publish(n, { to: { user: 'sb' }, data: { i } });
  await first.waitFor((x) => x.seqs().includes(3), 5000, 'seq 3');
  first.abort(); // the cut: nothing was acked
  await waitUntil(() => n.gateway.registry.device('default', 'sb', 'd1') === undefined || undefined, 3000, 'first stream gone');
  for (let i = 4; i <= 5; i++) await publish(n, { to: { user: 'sb' }, data: { i } });

  const second = new SseReader(sseUrl(n.url, { token: tok, device: 'd1' }), { 'last-event-id': '3' });
  const w = await second.welcome();
  assert.equal(w.last_seq, 3);
  assert.equal(w.recovered, true);
  await second.waitFor((x) => x.seqs().includes(5), 5000, 'replay to 5');
  assert.deepEqual(second.seqs(), [4, 5]);

  assert.equal((await ack(n.url, tok, { device: 'd1', seq: 5 })).status, 204);
  await waitUntil(async () => ((await n.engine.getCursor('default', 'sb', 'd1')) === 5 ? true : undefined), 3000, 'cursor at 5');
  assert.equal(n.gateway.registry.device('default', 'sb', 'd1')?.reliable?.position.acked, 5);
  // Well past several ack timeouts: nothing acked is written again.
  const t0 = Date.now();
  await waitUntil(() => (Date.now() >= t0 + 1000 ? true : undefined), 2000, 'five ack timeouts pass');
  assert.deepEqual(second.seqs(), [4, 5]);
  second.abort();
});

test('unacked messages are resent on the stream after the ack timeout (the control for the test above)', async () => {
  const n = await node({ ackTimeoutMs: 100 });
  const r = new SseReader(sseUrl(n.url, { token: await token('sc') }));
  await r.welcome();
  await publish(n, { to: { user: 'sc' }, data: 1 });
  await r.waitFor((x) => x.seqs().length >= 2, 5000, 'a resend');
  assert.deepEqual(r.seqs().slice(0, 2), [1, 1]);
  r.abort();
});

test('bad input gets exact 4xx answers and acks nothing', async () => {
  const n = await node();
  const tok = await token('sd');
  const noToken = new SseReader(sseUrl(n.url, { device: 'x' }));
  await noToken.done;
  assert.equal(noToken.status, 401);
  assert.equal(noToken.errorBody?.error?.code, 'unauthorized');

  const badId = new SseReader(sseUrl(n.url, { token: tok }), { 'last-event-id': 'abc' });
  await badId.done;
  assert.equal(badId.status, 400);
  assert.equal(badId.errorBody?.error?.field, 'Last-Event-ID');

  assert.equal((await fetch(sseUrl(n.url, { token: tok }), { method: 'HEAD' })).status, 405);

  const badToken = new SseReader(sseUrl(n.url, { token: 'nope' }));
  await badToken.done;
  assert.equal(badToken.status, 401);

  const mismatch = new SseReader(sseUrl(n.url, { token: await token('sd', { device: 'a' }), device: 'b' }));
  await mismatch.done;
  assert.equal(mismatch.status, 403);

  const badRoom = new SseReader(sseUrl(n.url, { token: tok, rooms: 'ok,bad room' }));
  await badRoom.done;
  assert.equal(badRoom.status, 400);
  assert.equal(badRoom.errorBody?.error?.field, 'rooms');

  // The victim's stream, with messages in flight.
  const victim = new SseReader(sseUrl(n.url, { token: await token('victim'), device: 'pos' }));
  await victim.welcome();
  await publish(n, { to: { user: 'victim' }, data: 1 });
  await victim.waitFor((x) => x.seqs().length === 1);

  const other = await ack(n.url, tok, { device: 'pos', seq: 1 });
  assert.equal(other.status, 404, "another user's device is not found under the token's user");
  assert.equal((other.body.error as { field: string }).field, 'device');

  const mine = new SseReader(sseUrl(n.url, { token: tok, device: 'pos' }));
  await mine.welcome();
  const unknown = await ack(n.url, tok, { device: 'pos', seq: 99 });
  assert.equal(unknown.status, 400);
  assert.equal((unknown.body.error as { field: string }).field, 'seq');

  const noBearer = await fetch(n.url + '/sse/ack', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"device":"pos","seq":0}' });
  assert.equal(noBearer.status, 401);
  const badBody = await ack(n.url, tok, { device: 'pos', seq: -1 });
  assert.equal(badBody.status, 400);
  assert.equal((badBody.body.error as { field: string }).field, 'seq');
  const extra = await ack(n.url, tok, { device: 'pos', seq: 0, x: 1 });
  assert.equal(extra.status, 400);

  // Nothing of the victim's was acked.
  assert.equal(n.gateway.registry.device('default', 'victim', 'pos')?.reliable?.position.acked, 0);
  victim.abort();
  mine.abort();
});

test('the same device connecting again ends the older stream with event: close 4004; a WebSocket replaces a stream too', async () => {
  const n = await node();
  const tok = await token('se');
  const a = new SseReader(sseUrl(n.url, { token: tok, device: 'tab' }));
  await a.welcome();
  const b = new SseReader(sseUrl(n.url, { token: tok, device: 'tab' }));
  await b.welcome();
  await a.waitFor((x) => x.ended, 3000, 'older stream ended');
  assert.deepEqual(a.frames('close')[0], { code: 4004, reason: 'replaced: the same user and device connected again' });
  const ws = await connect(n, 'se', { device: 'tab' });
  await b.waitFor((x) => x.ended, 3000, 'stream replaced by a WebSocket');
  assert.equal(b.frames('close')[0]!.code, 4004);
  ws.close();
});

test('rooms=a,b joins the rooms: room messages arrive without an id; a room outside the allow-list gets an error event', async () => {
  const n = await node();
  const r = new SseReader(sseUrl(n.url, { token: await token('sf', { rooms: ['lobby'] }), rooms: 'lobby,vip' }));
  await r.welcome();
  await r.waitFor((x) => x.frames('error').length === 1, 3000, 'refusal of vip');
  assert.equal(r.frames('error')[0]!.code, 'room_forbidden');
  await waitUntil(() => n.gateway.registry.roomSize('default', 'lobby') === 1 || undefined, 3000, 'joined lobby');
  await publish(n, { to: { room: 'lobby' }, data: 'hi' });
  await r.waitFor((x) => x.frames().length === 1, 3000, 'room message');
  const e = r.events.find((x) => x.event === 'message')!;
  assert.equal(e.id, undefined);
  assert.equal(JSON.parse(e.data).room, 'lobby');
  r.abort();
});

test('per-user limit answers 429 before the stream starts; a drain ends streams with event: close 1001', async () => {
  const n = await node({ maxConnectionsPerUser: 1 });
  const tok = await token('sg');
  const a = new SseReader(sseUrl(n.url, { token: tok, device: 'one' }));
  await a.welcome();
  await waitUntil(async () => ((await n.engine.userPresence('default', 'sg')).length === 1 ? true : undefined), 3000, 'presence');
  const b = new SseReader(sseUrl(n.url, { token: tok, device: 'two' }));
  await b.done;
  assert.equal(b.status, 429);
  await n.close();
  await a.waitFor((x) => x.ended, 5000, 'drained');
  assert.equal(a.frames('close')[0]!.code, 1001);
});

test('POST /sse/frame runs a client frame for the stream (join, publish, presence) with the reply on the stream; bad frames get 400', async () => {
  const n = await node();
  const tok = await token('sh');
  const r = new SseReader(sseUrl(n.url, { token: tok, device: 'web' }));
  await r.welcome();
  const post = async (frame: unknown): Promise<number> =>
    (await fetch(n.url + '/sse/frame', { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify({ device: 'web', frame }) })).status;
  assert.equal(await post({ type: 'join', room: 'chat', id: 'j1' }), 202);
  await r.waitFor((x) => x.frames('reply').some((f) => f.id === 'j1'), 3000, 'join reply');
  assert.equal(await post({ type: 'publish', room: 'chat', data: { t: 'hi' }, id: 'p1' }), 202);
  await r.waitFor((x) => x.frames().some((f) => f.room === 'chat'), 3000, 'own room message');
  assert.deepEqual(r.frames().find((f) => f.room === 'chat')!.data, { t: 'hi' });
  assert.equal(await post({ type: 'presence', room: 'chat', id: 'q1' }), 202);
  await r.waitFor((x) => x.frames('reply').some((f) => f.id === 'q1'), 3000, 'presence reply');
  assert.deepEqual(r.frames('reply').find((f) => f.id === 'q1')!.members, [{ user: 'sh', device: 'web' }]);
  assert.equal(await post({ type: 'nope' }), 400);
  assert.equal(await post('x'), 400);
  r.abort();
});

test('lifecycle events and metrics see SSE sessions like WebSocket ones; CORS headers for an allowed origin', async () => {
  const n = await node({ allowedOrigins: ['https://app.example'] });
  const seen: string[] = [];
  n.events.add({ connected: (s) => seen.push(`connected ${s.user}/${s.device}`), disconnected: (s, code) => seen.push(`disconnected ${s.user}/${s.device} ${code}`) });
  const tok = await token('si');
  const r = new SseReader(sseUrl(n.url, { token: tok, device: 'c1' }), { origin: 'https://app.example' });
  await r.welcome();
  assert.equal(r.headers!.get('access-control-allow-origin'), 'https://app.example');
  await fetch(n.url + '/api/v1/disconnect', { method: 'POST', headers: { authorization: 'Bearer test-api-key-0123456789', 'content-type': 'application/json' }, body: '{"user":"si"}' });
  await r.waitFor((x) => x.ended, 3000, 'ended by the API');
  assert.equal(r.frames('close')[0]!.code, 4011);
  await waitUntil(() => (seen.length === 2 ? true : undefined), 3000, 'two events');
  assert.deepEqual(seen, ['connected si/c1', 'disconnected si/c1 4011']);
  const metrics = await (await fetch(n.url + '/metrics')).text();
  assert.match(metrics, /herald_disconnects_total\{code="4011"/);
  const pre = await fetch(n.url + '/sse/ack', { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
  assert.equal(pre.status, 204);
  assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/);
  const foreign = new SseReader(sseUrl(n.url, { token: tok }), { origin: 'https://evil.example' });
  await foreign.done;
  assert.equal(foreign.status, 403);
});

test('a quiet stream gets comment heartbeats', async () => {
  const n = await node({ heartbeatMs: 100 });
  const r = new SseReader(sseUrl(n.url, { token: await token('sj') }));
  await r.welcome();
  await r.waitFor((x) => x.comments >= 2, 3000, 'two heartbeat comments');
  r.abort();
});

test('a stream whose token expires ends with event: close 4001, like a WebSocket', async () => {
  const n = await node({ heartbeatMs: 200, jwtClockToleranceSec: 0 });
  // exp is whole seconds: a 2 s token has between 1 and 2 s left, enough to be admitted under load.
  const r = new SseReader(sseUrl(n.url, { token: await token('sk', { ttlSec: 2 }) }));
  await r.welcome();
  await r.waitFor((x) => x.ended, 8000, 'expired');
  assert.equal(r.frames('close')[0]!.code, 4001);
});
