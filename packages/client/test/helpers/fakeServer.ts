/**
 * An in-process fake Herald server, scripted frame by frame by each test, for
 * faults the real server will not produce on demand (duplicates, out-of-order
 * seqs, drops at chosen points, specific close codes).
 */
import { WebSocketServer, WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { BINARY_SUBPROTOCOL, decodeFrame, encodeV1, toV1, type Compressor, type DecodedFrame, type ServerFrame } from '@herald/protocol';
import { nodeCompressor } from '../../../server/src/protocol/nodeCompressors.js';

/** The server's node:zlib raw DEFLATE codec, for the fake's side of protocol v2. */
export const deflate: Compressor = nodeCompressor('deflate');

export type Frame = { type: string } & Record<string, unknown>;

/** Resolves when `predicate` holds for an item pushed to the queue, or rejects after `timeoutMs`. */
class Inbox<T> {
  readonly #items: T[] = [];
  readonly #waiters: { predicate: (item: T) => boolean; resolve: (item: T) => void }[] = [];

  push(item: T): void {
    const i = this.#waiters.findIndex((w) => w.predicate(item));
    if (i >= 0) {
      const [w] = this.#waiters.splice(i, 1);
      w!.resolve(item);
      return;
    }
    this.#items.push(item);
  }

  /** Takes the first item matching `predicate` (others stay queued). */
  take(predicate: (item: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    const i = this.#items.findIndex(predicate);
    if (i >= 0) return Promise.resolve(this.#items.splice(i, 1)[0]!);
    return new Promise<T>((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (item: T) => {
          clearTimeout(timer);
          resolve(item);
        },
      };
      const timer = setTimeout(() => {
        const j = this.#waiters.indexOf(waiter);
        if (j >= 0) this.#waiters.splice(j, 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Everything queued and not taken, in arrival order. */
  drain(): T[] {
    return this.#items.splice(0);
  }
}

export class FakeConn {
  readonly query: URLSearchParams;
  readonly received = new Inbox<Frame>();
  /** Answer `{"type":"ping"}` with a pong (on by default; turn off to simulate a silent server). */
  autoPong = true;
  /** Pings received (not queued in `received`). */
  pings = 0;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Protocol v2: the client offered (and ws selected) `herald.v2.bin`. */
  readonly binary: boolean;
  /** v2: every client frame as decoded (header type, seq, compression), in arrival order, pings included. */
  readonly decoded: DecodedFrame[] = [];
  /** v2: the raw bytes of every client frame, same order as `decoded`. */
  readonly raw: Uint8Array[] = [];
  /** Text frames a v2 connection received (must stay 0). */
  textFrames = 0;
  /** v2: compress frames sent by the fake with this codec (null: never). Set by `accept` from the offer. */
  compressor: Compressor | null = null;
  threshold = 1024;

  constructor(
    readonly socket: WebSocket,
    url: string,
  ) {
    this.query = new URL(url, 'http://x').searchParams;
    this.binary = socket.protocol === BINARY_SUBPROTOCOL;
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    socket.on('message', (data, isBinary) => {
      let frame: Frame;
      if (this.binary) {
        if (!isBinary) {
          this.textFrames++;
          return;
        }
        const bytes = new Uint8Array(data as Buffer);
        const d = decodeFrame(bytes, { sender: 'client', compressor: deflate });
        this.raw.push(bytes);
        this.decoded.push(d);
        frame = toV1(d) as unknown as Frame;
      } else {
        frame = JSON.parse(data.toString()) as Frame;
      }
      if (frame.type === 'ping') {
        this.pings++;
        if (this.autoPong) this.send({ type: 'pong' });
        return;
      }
      this.received.push(frame);
    });
  }

  /** The next received frame of `type` (matching `predicate`), within `timeoutMs`. */
  next(type: string, predicate: (f: Frame) => boolean = () => true, timeoutMs = 3000): Promise<Frame> {
    return this.received.take((f) => f.type === type && predicate(f), timeoutMs, `a ${type} frame`);
  }

  /** The very next received frame, whatever its type. */
  nextAny(timeoutMs = 3000): Promise<Frame> {
    return this.received.take(() => true, timeoutMs, 'any frame');
  }

  /** A v1 frame: as JSON text, or on a v2 connection as a binary frame (compressed per `compressor`/`threshold`). */
  send(frame: object): void {
    if (this.binary) this.socket.send(encodeV1(frame as ServerFrame, 'server', { compressor: this.compressor, threshold: this.threshold }));
    else this.socket.send(JSON.stringify(frame));
  }

  /** Raw bytes as one binary WebSocket message. */
  sendBytes(bytes: Uint8Array): void {
    this.socket.send(bytes);
  }

  sendRaw(text: string): void {
    this.socket.send(text);
  }

  /** Waits for the auth frame (unless the token came in the URL), then sends `welcome`. */
  async accept(welcome: Partial<Frame> = {}): Promise<string> {
    let token = this.query.get('token');
    if (token === null) token = String((await this.next('auth')).token);
    const lastSeq = this.query.get('last_seq');
    if (this.binary) {
      // Like the server: deflate when offered, announced in the welcome (a test may override both).
      const offered = (this.query.get('compression') ?? '').split(',').includes('deflate');
      const compression = (welcome.compression as string | undefined) ?? (offered ? 'deflate' : 'none');
      welcome = { compression, compression_threshold: this.threshold, ...welcome };
      this.compressor = compression === 'deflate' ? deflate : null;
    }
    this.send({
      type: 'welcome',
      conn: 'c1',
      node: 'fake',
      user: 'u1',
      tenant: 'default',
      device: this.query.get('device') ?? 'default',
      heartbeat_ms: 60_000,
      last_seq: lastSeq === null ? 0 : Number(lastSeq),
      recovered: true,
      ...welcome,
    });
    return token;
  }

  message(seq: number | undefined, data: unknown = { n: seq }, extra: object = {}): void {
    this.send({ type: 'message', id: `m${seq ?? Math.random()}`, ...(seq === undefined ? {} : { seq }), data, ts: Date.now(), ...extra });
  }

  close(code: number, reason = ''): void {
    this.socket.close(code, reason);
  }

  /** Drops the TCP connection without a close frame (the client sees 1006). */
  terminate(): void {
    this.socket.terminate();
  }
}

export class FakeServer {
  readonly #wss: WebSocketServer;
  readonly #conns = new Inbox<FakeConn>();
  readonly all: FakeConn[] = [];

  private constructor(wss: WebSocketServer) {
    this.#wss = wss;
    wss.on('connection', (socket, req) => {
      const conn = new FakeConn(socket, req.url ?? '/');
      this.all.push(conn);
      this.#conns.push(conn);
    });
  }

  static start(): Promise<FakeServer> {
    return new Promise((resolve, reject) => {
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      wss.once('listening', () => resolve(new FakeServer(wss)));
      wss.once('error', reject);
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.#wss.address() as AddressInfo).port}/ws`;
  }

  /** The next client connection, within `timeoutMs`. */
  nextConnection(timeoutMs = 3000): Promise<FakeConn> {
    return this.#conns.take(() => true, timeoutMs, 'a client connection');
  }

  /** Resolves true if a connection arrives within `ms`; for asserting that none does. */
  async connectsWithin(ms: number): Promise<boolean> {
    try {
      await this.nextConnection(ms);
      return true;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    for (const c of this.all) c.socket.terminate();
    return new Promise((resolve) => this.#wss.close(() => resolve()));
  }
}
