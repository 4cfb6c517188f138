/**
 * A protocol v2 test client: a real `ws` client offering `herald.v2.bin`,
 * decoding every binary frame with the package's decoder (and the server's
 * node:zlib codec), keeping both the raw bytes and the v1-shaped objects.
 * Waiting, acking, requests and the close record come from the kit's FrameClient.
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
import { FrameClient, wsUrl, type Frame } from '@herald/testkit';
import { token } from '../helpers/harness.js';

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

export class V2Client extends FrameClient {
  /** The raw bytes of every frame, in order (same index as `decoded`). */
  readonly raw: Buffer[] = [];
  readonly decoded: DecodedFrame[] = [];
  /** Text frames received (a v2 connection must never get one). */
  textFrames = 0;
  /** The codec the welcome announced, used to decode everything after it. */
  compressor: Compressor | null = null;
  decodeErrors: unknown[] = [];
  private readonly openP: Promise<void>;

  constructor(ws: WebSocket) {
    super(ws);
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
        this.record(f);
      } catch (err) {
        this.decodeErrors.push(err);
      }
    });
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

  /** Index of the frame `f` in `raw`/`decoded`. */
  rawOf(f: Frame): Buffer {
    return this.raw[this.frames.indexOf(f)]!;
  }
}

/** The welcome is the first frame and is sent before the client knows the codec: accept any codec for it. */
function anyCodec(buf: Buffer): Compressor | null {
  if (buf.length < 4 || buf[3] === 0) return null;
  return nodeCompressor(buf[3] === 2 ? 'zstd' : 'deflate');
}

export function openV2(node: HeraldNode, q: Record<string, string> = {}, protocols: string[] = [BINARY_SUBPROTOCOL]): V2Client {
  return new V2Client(new WebSocket(wsUrl(node.url, q), protocols));
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
