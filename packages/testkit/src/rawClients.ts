/**
 * Misbehaving clients below the SDK: raw `ws` sockets that never answer
 * heartbeats or send bad frames, and raw TCP sockets that speak broken
 * WebSocket framing. Each records how and when the server closed it.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { WebSocket } from 'ws';

export interface RawResult {
  /** WebSocket close code, or -1 for a TCP close without one. */
  code: number;
  closedAt: number;
}

export interface RawConn {
  readonly openedAt: number;
  readonly closed: Promise<RawResult>;
  result: RawResult | undefined;
  /** Resolves true once the WebSocket is open (false when it failed before). */
  readonly opened: Promise<boolean>;
  /** Text frames received. */
  readonly messages: string[];
  /** Raw TCP only: the server's close frame (code, when), parsed from the bytes. */
  closeFrame?: { code: number; at: number };
  send(data: string | Buffer, binary?: boolean): void;
  terminate(): void;
}

/** A `ws` client. With `autoPong: false` and no app pings it is silent: the server must time it out. */
export function openRaw(url: string, o: { autoPong?: boolean } = {}): RawConn {
  const ws = new WebSocket(url, { autoPong: o.autoPong ?? true, handshakeTimeout: 5000 });
  let result: RawResult | undefined;
  const conn: RawConn = {
    openedAt: Date.now(),
    result: undefined,
    messages: [],
    opened: new Promise((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('close', () => resolve(false));
      ws.once('error', () => resolve(false));
    }),
    closed: new Promise((resolve) => {
      ws.once('close', (code: number) => {
        result = { code, closedAt: Date.now() };
        conn.result = result;
        resolve(result);
      });
    }),
    send: (data, binary = false) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(data, { binary });
    },
    terminate: () => ws.terminate(),
  };
  ws.on('error', () => {});
  ws.on('message', (d: Buffer, isBinary: boolean) => {
    if (!isBinary && conn.messages.length < 1000) conn.messages.push(d.toString());
  });
  return conn;
}

/** Completes the WebSocket handshake by hand on a TCP socket, then writes `bytes` (broken framing). */
export function rawTcpFrame(port: number, path: string, bytes: Buffer): RawConn {
  const s: Socket = tcpConnect({ host: '127.0.0.1', port });
  let upgraded = false;
  let buf = '';
  const conn: RawConn = {
    openedAt: Date.now(),
    result: undefined,
    messages: [],
    opened: new Promise((resolve) => {
      s.on('data', (d: Buffer) => {
        if (upgraded) {
          // Server frames are unmasked: a close frame is 0x88, length, then the 2-byte code.
          if (!conn.closeFrame && d.length >= 4 && d[0] === 0x88) conn.closeFrame = { code: d.readUInt16BE(2), at: Date.now() };
          return;
        }
        buf += d.toString('latin1');
        const end = buf.indexOf('\r\n\r\n');
        if (end >= 0) {
          upgraded = buf.startsWith('HTTP/1.1 101');
          resolve(upgraded);
          if (upgraded) {
            const rest = Buffer.from(buf.slice(end + 4), 'latin1');
            if (rest.length >= 4 && rest[0] === 0x88) conn.closeFrame = { code: rest.readUInt16BE(2), at: Date.now() };
            s.write(bytes);
          }
        }
      });
      s.once('close', () => resolve(false));
    }),
    closed: new Promise((resolve) => {
      s.once('close', () => {
        conn.result = { code: -1, closedAt: Date.now() };
        resolve(conn.result);
      });
    }),
    send: (d) => s.write(d),
    terminate: () => s.destroy(),
  };
  s.on('error', () => {});
  s.on('connect', () => {
    const key = Buffer.from('stress-raw-key!!').toString('base64');
    s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
  return conn;
}

/** A masked client WebSocket frame (FIN set) with any opcode: for reserved opcodes and bad lengths. */
export function maskedFrame(opcode: number, payload: Buffer, mask = Buffer.from([1, 2, 3, 4])): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = (payload[i] as number) ^ (mask[i % 4] as number);
  return Buffer.concat([head, mask, body]);
}
