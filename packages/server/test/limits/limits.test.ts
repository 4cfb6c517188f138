/** Issue 7: every limit trips with its exact code; nothing else is affected. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, createSecretKey } from 'node:crypto';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { CloseCode } from '@herald/protocol';
import type { HeraldNode } from '../../src/node.js';
import { api, connect, open, publish, nodeFactory, token, waitUntil } from '../helpers/harness.js';

const node = nodeFactory();

async function metric(n: HeraldNode, name: string): Promise<string> {
  return (await (await fetch(n.url + '/metrics')).text()).split('\n').filter((l) => l.startsWith(name)).join('\n');
}

test('connections per user: the one over the limit is closed 4005', async () => {
  const n = await node({ maxConnectionsPerUser: 2 });
  const a = await connect(n, 'many', { device: 'a' });
  const b = await connect(n, 'many', { device: 'b' });
  const c = open(n, { token: await token('many'), device: 'c' });
  const closed = await c.waitClosed();
  assert.equal(closed.code, CloseCode.ConnectionLimit);
  assert.match(closed.reason, /per user/);
  // Replacing an existing device is not a new connection.
  const a2 = await connect(n, 'many', { device: 'a' });
  assert.equal((await a.waitClosed()).code, CloseCode.Replaced);
  assert.match(await metric(n, 'herald_limit_rejections_total'), /limit="connections_per_user"/);
  b.close();
  a2.close();
});

test('connections per node: 4005 over the limit, and room again after a close', async () => {
  const n = await node({ maxConnections: 2 });
  const a = await connect(n, 'n1');
  const b = await connect(n, 'n2');
  const c = open(n, { token: await token('n3') });
  assert.equal((await c.waitClosed()).code, CloseCode.ConnectionLimit);
  a.close();
  await a.waitClosed();
  await waitUntil(() => n.gateway.liveCount === 1 || undefined, 2000, 'slot freed');
  const d = await connect(n, 'n4');
  d.close();
  b.close();
});

test('pending authentications per node: 4005 over the limit', async () => {
  const n = await node({ maxPendingAuth: 1 });
  const a = open(n); // no token: stays authenticating
  await waitUntil(() => a.opened || undefined, 2000, 'open');
  const b = open(n);
  assert.equal((await b.waitClosed()).code, CloseCode.ConnectionLimit);
  a.close();
});

test('per-IP connect rate: 4005 beyond the burst; trusted proxies name the client', async () => {
  const n = await node({ connectRatePerIp: 1, connectBurstPerIp: 2, trustedProxies: ['127.0.0.1'] });
  const tok = await token('ip');
  const viaProxy = (ip: string, device: string) => open(n, { token: tok, device }, { headers: { 'x-forwarded-for': ip } });
  const ok1 = viaProxy('198.51.100.7', 'd1');
  const ok2 = viaProxy('198.51.100.7', 'd2');
  await ok1.waitFor((f) => f.type === 'welcome');
  await ok2.waitFor((f) => f.type === 'welcome');
  const third = viaProxy('198.51.100.7', 'd3');
  assert.equal((await third.waitClosed()).code, CloseCode.ConnectionLimit);
  const other = viaProxy('198.51.100.8', 'd4');
  await other.waitFor((f) => f.type === 'welcome');
  for (const c of [ok1, ok2, other]) c.close();
});

test('client frame rate per user: close 4008; room publish rate: error rate_limited', async () => {
  const n = await node({ frameRatePerUser: 1, frameBurstPerUser: 5, publishRatePerUser: 1, publishBurstPerUser: 1 });
  const c = await connect(n, 'chatty');
  assert.equal((await c.request({ type: 'join', room: 'r' })).type, 'reply');
  assert.equal((await c.request({ type: 'publish', room: 'r', data: 1 })).type, 'reply');
  const limited = await c.request({ type: 'publish', room: 'r', data: 2 });
  assert.equal(limited.code, 'rate_limited');
  for (let i = 0; i < 10; i++) c.send({ type: 'ping' });
  const closed = await c.waitClosed();
  assert.equal(closed.code, CloseCode.RateLimited);
  // Acks are not counted: a device acking a burst of messages is never closed for it.
});

test('acks do not count against the frame rate', async () => {
  const n = await node({ frameRatePerUser: 1, frameBurstPerUser: 2 });
  const c = await connect(n, 'acker');
  for (let i = 0; i < 50; i++) await publish(n, { to: { user: 'acker' }, data: i });
  await c.waitForCount((f) => f.type === 'message', 50);
  await waitUntil(() => (n.gateway.registry.device('default', 'acker', 'default')?.reliable?.position.acked === 50 ? true : undefined), 3000, 'acks');
  assert.equal(c.closed, undefined);
  c.close();
});

test('HTTP API publish rate per tenant: 429 with Retry-After', async () => {
  const n = await node({ apiPublishRatePerTenant: 1, apiPublishBurstPerTenant: 2 });
  assert.equal((await publish(n, { to: { room: 'r', tenant: 'busy' }, data: 1 })).status, 200);
  assert.equal((await publish(n, { to: { room: 'r', tenant: 'busy' }, data: 2 })).status, 200);
  const r = await publish(n, { to: { room: 'r', tenant: 'busy' }, data: 3 });
  assert.equal(r.status, 429);
  assert.equal((r.body.error as { code: string }).code, 'rate_limited');
  assert.ok(Number(r.headers.get('retry-after')) >= 1);
  // Another tenant is unaffected.
  assert.equal((await publish(n, { to: { room: 'r', tenant: 'calm' }, data: 1 })).status, 200);
  const batch = await api(n, 'POST', '/api/v1/publish/batch', { messages: [{ to: { tenant: 'busy' }, data: 1 }] });
  assert.equal((batch.body.results as { error?: { code: string } }[])[0]!.error!.code, 'rate_limited');
});

test('origin allow-list: exact match only; other browser origins get 403', async () => {
  const n = await node({ allowedOrigins: ['https://app.example.com'] });
  const tok = await token('o');
  const status = (origin: string) =>
    new Promise<number>((resolve) => {
      const ws = new WebSocket(`${n.url.replace('http', 'ws')}/ws?token=${tok}`, { origin });
      ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
      ws.on('error', () => undefined);
    });
  assert.equal(await status('https://app.example.com'), 101);
  assert.equal(await status('https://evil.example.com'), 403);
  assert.equal(await status('https://app.example.com.evil.io'), 403);
  // No Origin header (native app): allowed.
  const c = await connect(n, 'native');
  c.close();
});

test('pre-auth caps: an oversized auth frame closes 1009', async () => {
  const n = await node({ maxPreAuthBytes: 256 });
  const c = open(n);
  await waitUntil(() => c.opened || undefined, 2000, 'open');
  c.send({ type: 'auth', token: 'x'.repeat(1000) });
  assert.equal((await c.waitClosed()).code, CloseCode.MessageTooBig);
});

test('an expired token closes the connection 4001; a refresh before expiry keeps it', async () => {
  const n = await node({ heartbeatMs: 200, jwtClockToleranceSec: 0 });
  // 2 s: exp has whole-second precision, so a 1 s token can be stale on arrival.
  const short = await token('brief', { ttlSec: 2 });
  const c = await connect(n, 'brief', { token: short });
  const closed = await c.waitClosed(6000);
  assert.equal(closed.code, CloseCode.Unauthorized);
  assert.match(closed.reason, /expired/);
  const kept = await connect(n, 'renewed', { token: await token('renewed', { ttlSec: 2 }) });
  const reply = await kept.request({ type: 'auth', token: await token('renewed', { ttlSec: 3600 }) });
  assert.equal(reply.type, 'reply');
  // Past the first token's expiry, plus heartbeat checks, it is still open.
  const until = Date.now() + 2600;
  while (Date.now() < until) {
    kept.send({ type: 'ping' });
    await kept.waitForCount((f) => f.type === 'pong', kept.frames.filter((f) => f.type === 'pong').length + 1, 2000, 'pong');
    await new Promise((r) => setTimeout(r, 100)); // pacing pings, not synchronisation
  }
  assert.equal(kept.closed, undefined);
  // A refresh naming another identity is refused.
  kept.send({ type: 'auth', token: await token('someone-else') });
  assert.equal((await kept.waitClosed()).code, CloseCode.Forbidden);
});

test('JWT: HS256 signed with the RS public key is refused when RS256 is configured (key confusion)', async () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const n = await node({ jwtAlgorithms: ['RS256'], jwtPublicKey: pem, jwtAudience: 'herald', jwtIssuer: 'auth.example' });
  const good = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('rs').setAudience('herald').setIssuer('auth.example').setExpirationTime('1h').sign(privateKey);
  const c = await connect(n, 'rs', { token: good });
  c.close();
  const confused = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('rs').setAudience('herald').setIssuer('auth.example').setExpirationTime('1h').sign(createSecretKey(Buffer.from(pem)));
  const wrongAud = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('rs').setAudience('other').setIssuer('auth.example').setExpirationTime('1h').sign(privateKey);
  const wrongIss = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('rs').setAudience('herald').setIssuer('evil').setExpirationTime('1h').sign(privateKey);
  for (const [name, tok] of Object.entries({ confused, wrongAud, wrongIss })) {
    const x = open(n, { token: tok });
    assert.equal((await x.waitClosed()).code, CloseCode.Unauthorized, name);
  }
});
