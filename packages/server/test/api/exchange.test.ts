/**
 * The request lifecycle without a promise per request (api/exchange.ts, issue 20): a request is
 * open until answered, the drain waits for the ones begun before it (and only those), and a
 * request ends once — whatever the body's events do after it was answered or refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Requests, type Exchange } from '../../src/api/exchange.js';
import { readJsonTo } from '../../src/api/http.js';
import { Stats } from '../../src/observability/stats.js';
import { createLogger } from '../../src/observability/logger.js';
import { parseReply, rawRequest } from '../security/rawHttp.js';

interface Rig {
  requests: Requests;
  stats: Stats;
  port: number;
  close(): Promise<void>;
}

/** A server whose every request is an Exchange reading a JSON body of at most 64 bytes and echoing it (`onBody` per test). */
async function rig(onBody: (x: Exchange, body: unknown) => void): Promise<Rig> {
  const stats = new Stats();
  const requests = new Requests(stats, createLogger('silent'));
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const x = requests.begin(req, res, 'rid');
    x.name = 'echo';
    x.path = req.url ?? '';
    x.onBody = onBody;
    readJsonTo(req, 64, 8, x);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    requests,
    stats,
    port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const echo = (x: Exchange, body: unknown): void => x.json(JSON.stringify(body));

/** Opens a request and sends its head and the first part of its body only. */
function startRequest(port: number, body: string, sent: number): Promise<{ socket: Socket; rest(): Promise<string> }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, sent)}`);
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      const ended = new Promise<string>((r) => socket.on('close', () => r(text)));
      resolve({
        socket,
        rest: () => {
          socket.write(body.slice(sent));
          return ended;
        },
      });
    });
  });
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('settled(): waits for the requests begun before it, until answered; not for the ones begun after', async () => {
  const r = await rig(echo);
  try {
    const a = await startRequest(r.port, '{"a":1}', 3);
    await tick(50);
    assert.equal(r.requests.open, 1);
    let settled = false;
    const wait = r.requests.settled().then(() => (settled = true));
    // Begun after the call: open, but not waited for.
    const b = await startRequest(r.port, '{"b":2}', 2);
    await tick(50);
    assert.equal(r.requests.open, 1, 'the new cohort has one open request');
    assert.equal(settled, false, 'the request begun before is not answered yet');
    const replyA = parseReply(await a.rest());
    assert.equal(replyA.status, 200);
    assert.equal(replyA.body, '{"a":1}');
    await wait;
    assert.equal(settled, true);
    assert.equal(parseReply(await b.rest()).status, 200);
    await tick(20);
    assert.equal(r.requests.open, 0);
    assert.equal(r.stats.http.get('echo|200'), 2, 'each request counted once');
  } finally {
    await r.close();
  }
  // Nothing open: resolves at once.
  const idle = new Requests(new Stats(), createLogger('silent'));
  await idle.settled();
});

test('a request ends once: a 413 then the rest of the body, a bad body, a sink that throws, done then fail', async () => {
  let thrown = 0;
  const r = await rig((x, body) => {
    if ((body as { boom?: boolean }).boom) {
      thrown++;
      throw new Error('sink failed');
    }
    x.json(JSON.stringify(body));
    // After the answer: no second reply, no second count, no destroyed socket.
    x.fail(new Error('late'));
    x.done();
  });
  try {
    const big = JSON.stringify({ p: 'x'.repeat(200) });
    // Content-Length honest but over the limit: refused before the body.
    const declared = await rawRequest(r.port, `POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\n\r\n${big}`);
    assert.equal(declared.status, 413);
    // Chunked: refused in the data listener; the end that follows is ignored.
    const chunked = await rawRequest(r.port, `POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`);
    assert.equal(chunked.status, 413);
    assert.equal((chunked.text.match(/HTTP\/1\.1 /g) ?? []).length, 1, 'one reply');
    const bad = await rawRequest(r.port, `POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{x}`);
    assert.equal(bad.status, 400);
    assert.equal((JSON.parse(bad.body) as { error: { code: string } }).error.code, 'bad_json');
    const boom = await rawRequest(r.port, `POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"boom":1}\n`);
    assert.equal(boom.status, 500);
    assert.equal(thrown, 1);
    const ok = await rawRequest(r.port, `POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"k":1}`);
    assert.equal(ok.status, 200);
    assert.equal(ok.body, '{"k":1}');
    assert.equal((ok.text.match(/HTTP\/1\.1 /g) ?? []).length, 1, 'one reply');
    await tick(20);
    assert.equal(r.requests.open, 0, 'every request closed exactly once');
    assert.deepEqual(Object.fromEntries(r.stats.http), { 'echo|413': 2, 'echo|400': 1, 'echo|500': 1, 'echo|200': 1 });
  } finally {
    await r.close();
  }
});

test('a client that goes away mid-body: the request fails once and is no longer open', async () => {
  const r = await rig(echo);
  try {
    const a = await startRequest(r.port, '{"a":"' + 'y'.repeat(40) + '"}', 10);
    await tick(50);
    assert.equal(r.requests.open, 1);
    const wait = r.requests.settled();
    a.socket.destroy();
    await wait;
    assert.equal(r.requests.open, 0);
  } finally {
    await r.close();
  }
});
