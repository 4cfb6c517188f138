/**
 * Test harness: a real Herald node on port 0 and real WebSocket clients with
 * bounded waits (no sleeps as synchronisation).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import WebSocket from 'ws';
import { FrameClient, wsUrl, type Frame } from '@herald/testkit';
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

export { waitUntil, type Frame } from '@herald/testkit';

/** A v1 (JSON text) client: the kit's frame client plus the raw text of every message. */
export class TestClient extends FrameClient {
  readonly raw: string[] = [];
  opened = false;

  constructor(ws: WebSocket) {
    super(ws);
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
      this.record(f);
    });
  }

  send(obj: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  sendFrame(frame: Record<string, unknown>): void {
    this.send(frame);
  }

  seqs(): number[] {
    return this.messages()
      .map((f) => f.seq)
      .filter((s): s is number => typeof s === 'number');
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
  return new TestClient(new WebSocket(wsUrl(node.url, q), wsOptions));
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

const HERALD_BIN = fileURLToPath(new URL('../../bin/herald.js', import.meta.url));

/**
 * A real `herald serve` child process on the Redis engine (for kill -9 tests): the test's secret
 * and API key, loopback, `port`, node id `nodeId`, and `env` on top. stderr is inherited.
 */
export function spawnRedisNode(o: { redisUrl: string; prefix: string; port: number; nodeId: string; env?: Record<string, string> }): ChildProcess {
  return spawn(process.execPath, [HERALD_BIN, 'serve'], {
    env: {
      ...process.env,
      HERALD_ENGINE: 'redis',
      HERALD_REDIS_URL: o.redisUrl,
      HERALD_REDIS_KEY_PREFIX: o.prefix,
      HERALD_PORT: String(o.port),
      HERALD_HOST: '127.0.0.1',
      HERALD_JWT_SECRET: SECRET,
      HERALD_API_KEY: API_KEY,
      HERALD_NODE_ID: o.nodeId,
      HERALD_LOG_LEVEL: 'warn',
      ...o.env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
