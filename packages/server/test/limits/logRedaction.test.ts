/** Logs never contain tokens, API keys or message bodies, even at trace level. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startHerald } from '../../src/node.js';
import { API_KEY, SECRET, connect, open, token } from '../helpers/harness.js';

test('a session full of tokens, keys and bodies leaves none of them in the logs', async () => {
  let logs = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs += chunk.toString();
      cb();
    },
  });
  const node = await startHerald(
    { port: 0, host: '127.0.0.1', jwtSecret: SECRET, apiKey: API_KEY, logLevel: 'trace', ackTimeoutMs: 50, ackMaxAttempts: 2 },
    { logger: pino({ level: 'trace' }, sink) },
  );
  const secrets: string[] = [SECRET, API_KEY];
  try {
    const urlToken = await token('logged', { device: 'a' });
    secrets.push(urlToken);
    const c = await connect(node, 'logged', { token: urlToken, device: 'a' });
    const frameToken = await token('logged', { device: 'b' });
    secrets.push(frameToken);
    const f = open(node, { device: 'b' });
    await new Promise<void>((r) => f.ws.once('open', () => r()));
    f.send({ type: 'auth', token: frameToken });
    await f.waitFor((x) => x.type === 'welcome');
    const refresh = await token('logged', { device: 'a', ttlSec: 7200 });
    secrets.push(refresh);
    await c.request({ type: 'auth', token: refresh });
    const bad = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.SIGNATURE-THAT-IS-WRONG';
    secrets.push(bad);
    await open(node, { token: bad }).waitClosed();
    const body = 'BODY-SECRET-' + Math.random().toString(36).slice(2);
    secrets.push(body);
    await c.request({ type: 'join', room: 'r' });
    await c.request({ type: 'publish', room: 'r', data: { body } });
    await fetch(node.url + '/api/v1/publish', { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ to: { user: 'logged' }, data: { body } }) });
    await fetch(node.url + '/api/v1/publish', { method: 'POST', headers: { authorization: 'Bearer WRONG-KEY-SHOULD-NOT-APPEAR' }, body: '{' });
    secrets.push('WRONG-KEY-SHOULD-NOT-APPEAR');
    // A device that never acks: resends and a 4012 close get logged.
    f.autoAck = false;
    await fetch(node.url + '/api/v1/publish', { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ to: { user: 'logged', device: 'b' }, data: { body } }) });
    await f.waitClosed(5000);
    c.close();
  } finally {
    await node.close();
  }
  assert.ok(logs.length > 0, 'something was logged');
  for (const s of secrets) assert.ok(!logs.includes(s), `logs contain a secret: ${s.slice(0, 12)}…`);
});
