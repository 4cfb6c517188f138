/**
 * A protocol v2 test client: a real `ws` client offering `herald.v2.bin`,
 * decoding every binary frame with the package's decoder (and the server's
 * node:zlib codec), keeping both the raw bytes and the v1-shaped objects.
 */
import WebSocket from 'ws';
import {
  BINARY_SUBPROTOCOL,
  BinaryFrameType,
  type CompressionName,
  type Compressor,
  type DecodedFrame,
  decodeFrame,
  encodeFrame,
  encodeV1,
  toV1,
  type ClientFrame,
} from '@herald/protocol';
import type { HeraldNode } from '../../src/node.js';
import { nodeCompressor } from '../../src/protocol/nodeCompressors.js';
import { token, waitUntil, type Frame } from '../helpers/harness.js';

export interface V2ConnectOptions {
  device?: string;
  tenant?: string;
  /** The `compression` query parameter (the client's offer). */
  compression?: string;
  lastSeq?: number;
  /** false: no token in the URL (authenticate with an Auth frame). */
  withToken?: boolean;
  query?: Record<string, string>;
}

export class V2Client {
  /** Every frame received, decoded and mapped to the v1 shape. */
  readonly frames: Frame[] = [];
  /** The raw bytes of every frame, in order (same index as `decoded`). */
  readonly raw: Buffer[] = [];
  readonly decoded: DecodedFrame[] = [];
  /** Text frames received (a v2 connection must never get one). */
  textFrames = 0;
  closed: { code: number; reason: string } | undefined;
  autoAck = true;
  /** The codec the welcome announced, used to decode everything after it. */
  compressor: Compressor | null = null;
  decodeErrors: unknown[] = [];
  private readonly closedP: Promise<{ code: number; reason: string }>;
  private readonly openP: Promise<void>;

  constructor(readonly ws: WebSocket) {
    ws.on('error', () => undefined);
    this.openP = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        this.textFrames++;
        return;
      }
      const buf = data as Buffer;
      try {
        // Until the welcome names the codec, accept the one a frame's header names.
        const d = decodeFrame(buf, { sender: 'server', compressor: this.compressor ?? anyCodec(buf) });
        this.raw.push(buf);
        this.decoded.push(d);
        const f = toV1(d) as unknown as Frame;
        if (f.type === 'welcome') {
          const c = f.compression as CompressionName;
          this.compressor = c === 'none' ? null : nodeCompressor(c);
        }
        this.frames.push(f);
        if (this.autoAck && f.type === 'message' && typeof f.seq === 'number') this.sendFrame({ type: 'ack', seq: f.seq });
      } catch (err) {
        this.decodeErrors.push(err);
      }
    });
    this.closedP = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        resolve(this.closed);
      }),
    );
  }

  opened(): Promise<void> {
    return this.openP;
  }

  /** Sends a v1-shaped client frame as a v2 frame (uncompressed unless a compressor is given). */
  sendFrame(frame: Record<string, unknown>, compressor: Compressor | null = null, threshold = 0): void {
    this.sendBytes(encodeV1(frame as unknown as ClientFrame, 'client', { compressor, threshold }));
  }

  sendBytes(bytes: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes, { binary: true });
  }

  ping(): void {
    this.sendBytes(encodeFrame(BinaryFrameType.Ping, null));
  }

  messages(): Frame[] {
    return this.frames.filter((f) => f.type === 'message');
  }

  async waitFor(pred: (f: Frame) => boolean, ms = 5000, what = 'frame'): Promise<Frame> {
    return waitUntil(() => this.frames.find(pred), ms, what);
  }

  async request(obj: Record<string, unknown>, ms = 5000): Promise<Frame> {
    const id = 'r' + Math.random().toString(36).slice(2);
    this.sendFrame({ ...obj, id });
    return this.waitFor((f) => (f.type === 'reply' || f.type === 'error') && f.id === id, ms, `reply to ${String(obj.type)}`);
  }

  /** Index of the frame `f` in `raw`/`decoded`. */
  rawOf(f: Frame): Buffer {
    return this.raw[this.frames.indexOf(f)]!;
  }

  waitClosed(ms = 5000): Promise<{ code: number; reason: string }> {
    return Promise.race([
      this.closedP,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`connection not closed within ${ms} ms`)), ms).unref()),
    ]);
  }

  close(): void {
    this.ws.close();
  }
}

/** The welcome is the first frame and is sent before the client knows the codec: accept any codec for it. */
function anyCodec(buf: Buffer): Compressor | null {
  if (buf.length < 4 || buf[3] === 0) return null;
  return nodeCompressor(buf[3] === 2 ? 'zstd' : 'deflate');
}

export function openV2(node: HeraldNode, q: Record<string, string> = {}, protocols: string[] = [BINARY_SUBPROTOCOL]): V2Client {
  const url = new URL(node.url.replace(/^http/, 'ws') + '/ws');
  for (const [k, v] of Object.entries(q)) url.searchParams.set(k, v);
  return new V2Client(new WebSocket(url, protocols));
}

/** Connects a v2 client as `user` and waits for its welcome. */
export async function connectV2(node: HeraldNode, user: string, o: V2ConnectOptions = {}): Promise<V2Client> {
  const q: Record<string, string> = { ...o.query };
  if (o.withToken !== false) q.token = await token(user, o.tenant ? { tenant: o.tenant } : {});
  if (o.device !== undefined) q.device = o.device;
  if (o.compression !== undefined) q.compression = o.compression;
  if (o.lastSeq !== undefined) q.last_seq = String(o.lastSeq);
  const c = openV2(node, q);
  if (o.withToken === false) return c;
  await c.waitFor((f) => f.type === 'welcome', 5000, `v2 welcome for ${user}`);
  return c;
}
