/**
 * Raw HTTP over node:net for the security tests: request lines that fetch()
 * would normalise or refuse (`//[`, `%2e`, `..%2f`) go on the wire verbatim.
 */
import { connect, type Socket } from 'node:net';

export interface RawReply {
  /** The whole response text received before the server closed or the reply was complete. */
  text: string;
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Parses the first HTTP response in `text` (status 0 when there is none). */
export function parseReply(text: string): RawReply {
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const [statusLine, ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0);
  let body = end < 0 ? '' : text.slice(end + 4);
  if (headers['content-length'] !== undefined) body = body.slice(0, Number(headers['content-length']));
  return { text, status, headers, body };
}

/**
 * Sends `data` and resolves with the first complete response (by
 * Content-Length) or whatever arrived when the server closed; rejects after `ms`.
 */
export function rawRequest(port: number, data: string, ms = 5000): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(data));
    let text = '';
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(parseReply(text));
    };
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no complete reply within ${ms} ms; got ${JSON.stringify(text)}`));
    }, ms);
    s.on('data', (d) => {
      text += d.toString('latin1');
      const r = parseReply(text);
      const len = Number(r.headers['content-length'] ?? NaN);
      if (r.status > 0 && text.includes('\r\n\r\n') && Number.isFinite(len) && Buffer.byteLength(r.body) >= len) done();
    });
    s.on('error', () => undefined);
    s.on('close', done);
  });
}

/** A GET with the request target written exactly as given. */
export function rawGet(port: number, target: string, headers: Record<string, string> = {}): Promise<RawReply> {
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`);
}

/**
 * A slowloris socket: sends an unfinished header block and never reads its
 * answer nor closes its side (half-open allowed), like a client that stalls.
 */
export interface SlowSocket {
  socket: Socket;
  /** Everything the server sent. */
  received: () => string;
  /** True once the server ended its side. */
  ended: () => boolean;
  /** True once the socket is gone (refused, reset or closed). */
  closed: () => boolean;
}

export function slowSocket(port: number): Promise<SlowSocket> {
  return new Promise((resolve, reject) => {
    let text = '';
    let ended = false;
    let closed = false;
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      resolve({ socket, received: () => text, ended: () => ended, closed: () => closed });
    });
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('end', () => (ended = true));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}
