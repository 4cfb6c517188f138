/**
 * The part every frame-level test client shares, whatever its encoding (v1
 * JSON text, v2 binary): it keeps the frames received in order, acks reliable
 * messages unless told not to, waits for frames with bounded deadlines, sends
 * request frames with an id and records how the server closed it. Subclasses
 * decode the wire format and say how to send a frame.
 */
import WebSocket from 'ws';
import { waitUntil } from './wait.js';

export type Frame = Record<string, unknown> & { type: string };

export interface CloseInfo {
  code: number;
  reason: string;
}

/** The WebSocket URL of `path` on a server given by its http(s) base, with query parameters. */
export function wsUrl(httpBase: string, query: Record<string, string> = {}, path = '/ws'): URL {
  const url = new URL(httpBase.replace(/^http/, 'ws') + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return url;
}

export abstract class FrameClient {
  /** Every frame received, in order, in the v1 shape. */
  readonly frames: Frame[] = [];
  closed: CloseInfo | undefined;
  /** Ack every reliable message automatically. */
  autoAck = true;
  private readonly closedP: Promise<CloseInfo>;

  constructor(readonly ws: WebSocket) {
    ws.on('error', () => undefined);
    this.closedP = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        resolve(this.closed);
      }),
    );
  }

  /** Sends one v1-shaped client frame in the connection's wire format. */
  abstract sendFrame(frame: Record<string, unknown>): void;

  /** Keeps a decoded frame and acks it when it is a reliable message. */
  protected record(f: Frame): void {
    this.frames.push(f);
    if (this.autoAck && f.type === 'message' && typeof f.seq === 'number') this.sendFrame({ type: 'ack', seq: f.seq });
  }

  messages(): Frame[] {
    return this.frames.filter((f) => f.type === 'message');
  }

  async waitFor(pred: (f: Frame) => boolean, ms = 5000, what = 'frame'): Promise<Frame> {
    return waitUntil(() => this.frames.find(pred), ms, what);
  }

  async waitForCount(pred: (f: Frame) => boolean, n: number, ms = 10000, what = 'frames'): Promise<Frame[]> {
    return waitUntil(
      () => {
        const got = this.frames.filter(pred);
        return got.length >= n ? got : undefined;
      },
      ms,
      `${n} ${what}`,
    );
  }

  /** Sends a request frame with an id and waits for its reply or error. */
  async request(obj: Record<string, unknown>, ms = 5000): Promise<Frame> {
    const id = 'r' + Math.random().toString(36).slice(2);
    this.sendFrame({ ...obj, id });
    return this.waitFor((f) => (f.type === 'reply' || f.type === 'error') && f.id === id, ms, `reply to ${String(obj.type)}`);
  }

  waitClosed(ms = 5000): Promise<CloseInfo> {
    return Promise.race([
      this.closedP,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`connection not closed within ${ms} ms`)), ms).unref()),
    ]);
  }

  close(): void {
    this.ws.close();
  }
}
