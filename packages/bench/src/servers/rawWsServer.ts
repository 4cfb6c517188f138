/**
 * The Node ceiling: a minimal `ws` server with only what the scenarios need —
 * JWT auth from the query string (HS256, same cost as the others), rooms, a
 * user index, and fan-out that serializes and frames each message once and
 * writes the same bytes to every socket. Speaks Herald's v1 JSON subset.
 * Run as its own process: `node dist/servers/rawWsServer.js` with BENCH_* env.
 */
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import * as wsModule from 'ws';
import { WebSocketServer, WebSocket } from 'ws';
import { verifyHs256 } from '@herald/testkit';
import { exitOnSignals, handleCommon, json, readEnv } from './common.js';
import type { PublishBody } from './common.js';

interface Conn {
  ws: WebSocket;
  user: string;
  rooms: string[];
}

type FrameFn = (data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }) => Buffer[];
// ws exports its frame encoder (Sender.frame) at runtime; @types/ws does not declare it.
const frame = (wsModule as unknown as { Sender: { frame: FrameFn } }).Sender.frame;

function encodeOnce(text: string): Buffer {
  const parts = frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false });
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

function socketOf(ws: WebSocket): Socket {
  return (ws as unknown as { _socket: Socket })._socket;
}

const env = readEnv();
const rooms = new Map<string, Set<Conn>>();
const users = new Map<string, Set<Conn>>();
let connections = 0;
let msgId = 0;

function write(conns: Iterable<Conn>, bytes: Buffer): number {
  let n = 0;
  for (const c of conns) {
    if (c.ws.readyState !== WebSocket.OPEN) continue;
    socketOf(c.ws).write(bytes);
    n++;
  }
  return n;
}

function publish(b: PublishBody): number {
  const set = 'room' in b.to ? rooms.get(b.to.room) : users.get(b.to.user);
  if (!set || set.size === 0) return 0;
  const text = `{"type":"message","id":"${++msgId}","data":${JSON.stringify(b.data ?? null)},"ts":${Date.now()}}`;
  return write(set, encodeOnce(text));
}

const http = createServer((req, res) => {
  handleCommon(req, res, env, publish, () => connections).then(
    (handled) => {
      if (!handled) json(res, 404, { error: { code: 'not_found', message: 'not found' } });
    },
    () => json(res, 500, { error: { code: 'internal', message: 'internal error' } }),
  );
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });

http.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const claims = url.pathname === '/ws' ? verifyHs256(url.searchParams.get('token') ?? '', env.secret) : null;
  if (!claims) {
    socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const c: Conn = { ws, user: claims.sub, rooms: [] };
    connections++;
    let set = users.get(c.user);
    if (!set) users.set(c.user, (set = new Set()));
    set.add(c);
    ws.send(`{"type":"welcome","user":${JSON.stringify(c.user)},"heartbeat_ms":0,"last_seq":0}`);
    ws.on('message', (raw, isBinary) => {
      if (isBinary) return;
      const text = raw.toString();
      if (text === 'ping') {
        ws.send('pong');
        return;
      }
      let f: { type?: unknown; room?: unknown; id?: unknown };
      try {
        f = JSON.parse(text) as typeof f;
      } catch {
        ws.close(4000, 'malformed frame');
        return;
      }
      if (f.type === 'join' && typeof f.room === 'string') {
        let r = rooms.get(f.room);
        if (!r) rooms.set(f.room, (r = new Set()));
        r.add(c);
        c.rooms.push(f.room);
        ws.send(`{"type":"reply","id":${JSON.stringify(String(f.id))},"ok":true}`);
      } else if (f.type === 'ping') {
        ws.send('{"type":"pong"}');
      }
    });
    ws.on('close', () => {
      connections--;
      users.get(c.user)?.delete(c);
      if (users.get(c.user)?.size === 0) users.delete(c.user);
      for (const r of c.rooms) rooms.get(r)?.delete(c);
    });
    ws.on('error', () => undefined);
  });
});

http.listen(env.port, env.host, () => {
  const addr = http.address();
  const port = typeof addr === 'object' && addr ? addr.port : env.port;
  // The parent reads this line to learn the port when BENCH_PORT=0.
  process.stdout.write(`listening ${port}\n`);
});

exitOnSignals(() => {
  http.close();
});
