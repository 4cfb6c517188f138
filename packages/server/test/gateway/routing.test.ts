/**
 * Every routing target reaches exactly the right connections and no others,
 * across users, devices, rooms and two tenants. After the publishes, a final
 * broadcast sentinel is awaited on every client: frames of one connection
 * arrive in order, so anything misrouted would have arrived before it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { HeraldNode } from '../../src/node.js';
import { connect, publish, startNode, type TestClient } from '../helpers/harness.js';
import type { Connection } from '../../src/gateway/connection.js';

let node: HeraldNode;
const clients: Record<string, TestClient> = {};

// name → [user, tenant, device, rooms]
const population: Record<string, [string, string, string, string[]]> = {
  aliceLaptop: ['alice', 'acme', 'laptop', ['lobby']],
  alicePhone: ['alice', 'acme', 'phone', []],
  bob: ['bob', 'acme', 'web', ['lobby', 'ops']],
  carol: ['carol', 'acme', 'pos-1', []],
  // Same user and room names in another tenant: must never receive acme's traffic.
  otherAlice: ['alice', 'globex', 'laptop', ['lobby']],
  dave: ['dave', 'globex', 'web', []],
};

before(async () => {
  node = await startNode();
  for (const [name, [user, tenant, device, rooms]] of Object.entries(population)) {
    const c = await connect(node, user, { tenant, device });
    for (const room of rooms) assert.equal((await c.request({ type: 'join', room })).type, 'reply');
    clients[name] = c;
  }
});

after(async () => {
  for (const c of Object.values(clients)) c.close();
  await node.close();
});

const cases: { name: string; to: Record<string, unknown>; expect: string[] }[] = [
  { name: 'user (all devices)', to: { user: 'alice', tenant: 'acme' }, expect: ['aliceLaptop', 'alicePhone'] },
  { name: 'user + device', to: { user: 'alice', device: 'phone', tenant: 'acme' }, expect: ['alicePhone'] },
  { name: 'users list', to: { users: ['bob', 'carol'], tenant: 'acme' }, expect: ['bob', 'carol'] },
  { name: 'room', to: { room: 'lobby', tenant: 'acme' }, expect: ['aliceLaptop', 'bob'] },
  { name: 'room in other tenant', to: { room: 'lobby', tenant: 'globex' }, expect: ['otherAlice'] },
  { name: 'tenant', to: { tenant: 'globex' }, expect: ['otherAlice', 'dave'] },
  { name: 'user in default tenant (nobody)', to: { user: 'alice' }, expect: [] },
  { name: 'unreliable user', to: { user: 'carol', tenant: 'acme' }, expect: ['carol'] },
];

test('every target delivers to exactly the right connections', async () => {
  for (const [i, c] of cases.entries()) {
    const reliable = c.name === 'unreliable user' ? false : undefined;
    const r = await publish(node, { to: c.to, data: { case: i }, ...(reliable === false ? { reliable } : {}) });
    assert.equal(r.status, 200, `${c.name}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.online, c.expect.length, `${c.name}: online count`);
  }
  const end = await publish(node, { to: { all: true }, data: { sentinel: true } });
  assert.equal(end.body.online, Object.keys(population).length);
  for (const [name, client] of Object.entries(clients)) {
    await client.waitFor((f) => f.type === 'message' && (f.data as { sentinel?: boolean }).sentinel === true, 5000, `sentinel at ${name}`);
    const got = client
      .messages()
      .map((f) => (f.data as { case?: number }).case)
      .filter((n): n is number => n !== undefined)
      .sort((a, b) => a - b);
    const want = cases.flatMap((c, i) => (c.expect.includes(name) ? [i] : [])).sort((a, b) => a - b);
    assert.deepEqual(got, want, `${name} received cases ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  }
});

test('user targets carry seq (reliable by default), room and broadcast do not', async () => {
  const r = await publish(node, { to: { user: 'dave', tenant: 'globex' }, data: 'x', event: 'note' });
  assert.equal(typeof (r.body.seq as Record<string, number>).dave, 'number');
  const m = await clients.dave!.waitFor((f) => f.type === 'message' && f.data === 'x');
  assert.equal(typeof m.seq, 'number');
  assert.equal(m.event, 'note');
  const room = await publish(node, { to: { room: 'ops', tenant: 'acme' }, data: 'y' });
  assert.equal(room.body.seq, undefined);
  const rm = await clients.bob!.waitFor((f) => f.type === 'message' && f.data === 'y');
  assert.equal(rm.seq, undefined);
  assert.equal(rm.room, 'ops');
});

test('the same fan-out writes one shared frame buffer to every recipient (encode once)', async () => {
  const seen: Buffer[] = [];
  // WebSocket connections only here: the registry also holds SSE sessions in general.
  const conns = [...node.gateway.registry.lookup({ kind: 'room', tenant: 'acme', room: 'lobby' })] as Connection[];
  assert.equal(conns.length, 2);
  const originals = conns.map((c) => c.sendWire.bind(c));
  conns.forEach((c, i) => {
    c.sendWire = (frame) => {
      seen.push(frame);
      return originals[i]!(frame);
    };
  });
  try {
    await publish(node, { to: { room: 'lobby', tenant: 'acme' }, data: { big: 'z'.repeat(1000) } });
  } finally {
    conns.forEach((c, i) => (c.sendWire = originals[i]!));
  }
  assert.equal(seen.length, 2);
  assert.equal(seen[0], seen[1], 'both recipients got the very same Buffer object');
});

test('clients publish to joined rooms; presence lists members; tenants stay apart', async () => {
  const bob = clients.bob!;
  const reply = await bob.request({ type: 'publish', room: 'lobby', data: { text: 'hi all' }, event: 'chat' });
  assert.equal(reply.type, 'reply');
  const got = await clients.aliceLaptop!.waitFor((f) => f.type === 'message' && f.event === 'chat');
  assert.equal(got.from, 'bob');
  assert.equal(got.room, 'lobby');
  const pres = await bob.request({ type: 'presence', room: 'lobby' });
  const members = (pres.members as { user: string; device: string }[]).map((m) => `${m.user}/${m.device}`).sort();
  assert.deepEqual(members, ['alice/laptop', 'bob/web']);
  const notJoined = await clients.carol!.request({ type: 'publish', room: 'lobby', data: 1 });
  assert.equal(notJoined.type, 'error');
  assert.equal(notJoined.code, 'not_joined');
  // globex's lobby got nothing from acme's chat.
  await publish(node, { to: { tenant: 'globex' }, data: 'fence' });
  await clients.otherAlice!.waitFor((f) => f.data === 'fence');
  assert.equal(clients.otherAlice!.frames.filter((f) => f.event === 'chat').length, 0);
});

test('HTTP presence endpoints list devices and room members', async () => {
  const res = await fetch(`${node.url}/api/v1/users/alice/presence?tenant=acme`, { headers: { authorization: 'Bearer test-api-key-0123456789' } });
  const body = (await res.json()) as { devices: { device: string; platform: string }[] };
  assert.deepEqual(body.devices.map((d) => d.device).sort(), ['laptop', 'phone']);
  const room = await fetch(`${node.url}/api/v1/rooms/lobby/presence?tenant=globex`, { headers: { authorization: 'Bearer test-api-key-0123456789' } });
  const rb = (await room.json()) as { members: { user: string }[] };
  assert.deepEqual(rb.members.map((m) => m.user), ['alice']);
});
