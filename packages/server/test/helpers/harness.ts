/**
 * Test harness: a real Herald node on port 0 and real WebSocket clients with
 * bounded waits (no sleeps as synchronisation).
 */
import { after } from 'node:test';
import WebSocket from 'ws';
import { startHerald, type HeraldNode } from '../../src/node.js';
import { mintToken, type MintOptions } from '../../src/auth/tokens.js';
import type { HeraldConfigInput } from '../../src/config/schema.js';

export const SECRET = 'test-secret-0123456789abcdef';
export const API_KEY = 'test-api-key-0123456789';

export async function startNode(extra: HeraldConfigInput = {}): Promise<HeraldNode> {
  return startHerald({ port: 0, host: '127.0.0.1', jwtSecret: SECRET, apiKey: API_KEY, logLevel: 'silent', ...extra });
}

/**
 * Returns a `node(config)` starter for a test file; every node it started is
 * closed after the file's tests. Call it at module level.
 */
export function nodeFactory(): (extra?: HeraldConfigInput) => Promise<HeraldNode> {
  const nodes: HeraldNode[] = [];
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
  });
  return async (extra = {}) => {
    const n = await startNode(extra);
    nodes.push(n);
    return n;
  };
}

export function token(sub: string, o: Partial<MintOptions> = {}): Promise<string> {
  return mintToken({ secret: SECRET, sub, ...o });
}

/** Resolves when `check` returns a value other than undefined; rejects after `ms`. */
export async function waitUntil<T>(check: () => T | undefined, ms = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export type Frame = Record<string, unknown> & { type: string };

export class TestClient {
  readonly frames: Frame[] = [];
  readonly raw: string[] = [];
  closed: { code: number; reason: string } | undefined;
  opened = false;
  /** Ack every reliable message automatically. */
  autoAck = true;
  private readonly closedP: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('open', () => (this.opened = true));
    ws.on('message', (data, isBinary) => {
      const text = data.toString();
      this.raw.push(text);
      if (isBinary) return;
      let f: Frame;
      try {
        f = JSON.parse(text) as Frame;
      } catch {
        return;
      }
      this.frames.push(f);
      if (this.autoAck && f.type === 'message' && typeof f.seq === 'number') this.send({ type: 'ack', seq: f.seq });
    });
    ws.on('error', () => undefined);
    this.closedP = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        resolve(this.closed);
      }),
    );
  }

  send(obj: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  messages(): Frame[] {
    return this.frames.filter((f) => f.type === 'message');
  }

  seqs(): number[] {
    return this.messages()
      .map((f) => f.seq)
      .filter((s): s is number => typeof s === 'number');
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
    this.send({ ...obj, id });
    return this.waitFor((f) => (f.type === 'reply' || f.type === 'error') && f.id === id, ms, `reply to ${String(obj.type)}`);
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

export interface ConnectOptions {
  device?: string;
  platform?: string;
  lastSeq?: number | string;
  token?: string | null;
  query?: Record<string, string>;
  wsOptions?: WebSocket.ClientOptions;
}

/** Opens a raw connection (no wait). */
export function open(node: HeraldNode, q: Record<string, string> = {}, wsOptions: WebSocket.ClientOptions = {}): TestClient {
  const url = new URL(node.url.replace(/^http/, 'ws') + '/ws');
  for (const [k, v] of Object.entries(q)) url.searchParams.set(k, v);
  return new TestClient(new WebSocket(url, wsOptions));
}

/** Connects as `user` and waits for the welcome frame. */
export async function connect(node: HeraldNode, user: string, o: ConnectOptions & { tenant?: string; rooms?: string[] } = {}): Promise<TestClient> {
  const q: Record<string, string> = { ...o.query };
  const tok = o.token === undefined ? await token(user, { ...(o.tenant ? { tenant: o.tenant } : {}), ...(o.rooms ? { rooms: o.rooms } : {}) }) : o.token;
  if (tok !== null) q.token = tok;
  if (o.device !== undefined) q.device = o.device;
  if (o.platform !== undefined) q.platform = o.platform;
  if (o.lastSeq !== undefined) q.last_seq = String(o.lastSeq);
  const c = open(node, q, o.wsOptions);
  await c.waitFor((f) => f.type === 'welcome', 5000, `welcome for ${user}`);
  return c;
}

export interface ApiReply {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

export async function api(node: HeraldNode, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiReply> {
  const res = await fetch(node.url + path, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export function publish(node: HeraldNode, body: unknown): Promise<ApiReply> {
  return api(node, 'POST', '/api/v1/publish', body);
}
