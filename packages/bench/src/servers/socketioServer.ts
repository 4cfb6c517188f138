/**
 * Socket.IO 4 as its users run it: JWT checked in a connection middleware
 * (auth payload of the CONNECT packet), each socket joins a per-user room for
 * unicast, clients join rooms with an acknowledged "join" event, and the HTTP
 * publish endpoint emits "message" to a room (Socket.IO encodes a broadcast
 * once). Defaults are kept (no compression, default ping interval).
 * Run as its own process: `node dist/servers/socketioServer.js` with BENCH_* env.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { verifyHs256 } from '@herald/testkit';
import { exitOnSignals, handleCommon, json, readEnv } from './common.js';
import type { PublishBody } from './common.js';

const env = readEnv();
let connections = 0;

const http = createServer();
const io = new Server(http, { serveClient: false, transports: ['websocket'], perMessageDeflate: false });

// Socket.IO installs its own 'request' listener for /socket.io/; ours handles the rest.
http.on('request', (req, res) => {
  if ((req.url ?? '').startsWith('/socket.io/')) return;
  handleCommon(req, res, env, publish, () => connections).then(
    (handled) => {
      if (!handled) json(res, 404, { error: { code: 'not_found', message: 'not found' } });
    },
    () => json(res, 500, { error: { code: 'internal', message: 'internal error' } }),
  );
});

const userRoom = (u: string): string => `u:${u}`;

function publish(b: PublishBody): number {
  const room = 'room' in b.to ? `r:${b.to.room}` : userRoom(b.to.user);
  const n = io.sockets.adapter.rooms.get(room)?.size ?? 0;
  if (n > 0) io.to(room).emit('message', b.data ?? null);
  return n;
}

io.use((socket, next) => {
  const token = (socket.handshake.auth as { token?: unknown }).token;
  const claims = typeof token === 'string' ? verifyHs256(token, env.secret) : null;
  if (!claims) {
    next(new Error('unauthorized'));
    return;
  }
  socket.data.user = claims.sub;
  next();
});

io.on('connection', (socket) => {
  connections++;
  void socket.join(userRoom(socket.data.user as string));
  socket.on('join', (room: unknown, ack?: (r: unknown) => void) => {
    if (typeof room !== 'string') {
      ack?.({ ok: false, error: 'bad_room' });
      return;
    }
    void socket.join(`r:${room}`);
    ack?.({ ok: true });
  });
  socket.on('disconnect', () => {
    connections--;
  });
});

http.listen(env.port, env.host, () => {
  const addr = http.address();
  const port = typeof addr === 'object' && addr ? addr.port : env.port;
  process.stdout.write(`listening ${port}\n`);
});

exitOnSignals(() => {
  void io.close();
});
