/**
 * The real Herald server in-process (memory engine, port 0, dev mode), for
 * integration and browser tests.
 */
import { WebSocket } from 'ws';
import { startHerald, type HeraldNode } from '../../../server/src/internal.js';
import { mintToken } from '../../../server/src/index.js';
import { HeraldClient, memoryStore, type HeraldClientOptions } from '../../src/binary.js';

export type { HeraldNode };

export async function startServer(config: Record<string, unknown> = {}): Promise<HeraldNode> {
  return startHerald({ port: 0, host: '127.0.0.1', logLevel: 'silent', ...config });
}

/** Starts a node with `config`, runs `fn`, then closes the clients `fn` added to `clients` and the node. */
export async function withNode(config: Record<string, unknown>, fn: (node: HeraldNode, clients: HeraldClient[]) => Promise<void>): Promise<void> {
  const node = await startServer(config);
  const clients: HeraldClient[] = [];
  try {
    await fn(node, clients);
  } finally {
    for (const c of clients) c.close();
    await node.close();
  }
}

export function token(node: HeraldNode, sub: string, extra: { device?: string; tenant?: string; rooms?: string[]; ttlSec?: number } = {}): Promise<string> {
  return mintToken({ secret: node.config.jwtSecret, sub, ...extra });
}

export function wsUrl(node: HeraldNode): string {
  return node.url.replace(/^http/, 'ws') + '/ws';
}

export function client(node: HeraldNode, options: Partial<HeraldClientOptions> & Pick<HeraldClientOptions, 'token'>): HeraldClient {
  return new HeraldClient({
    url: wsUrl(node),
    WebSocket,
    store: memoryStore(),
    random: () => 0,
    minReconnectDelayMs: 5,
    maxReconnectDelayMs: 50,
    ...options,
  });
}

export interface PublishResult {
  status: number;
  body: { id?: string; seq?: Record<string, number>; online?: number; error?: { code: string; message: string } };
}

/** POST /api/v1/publish with the node's API key. */
export async function publish(node: HeraldNode, body: object): Promise<PublishResult> {
  const res = await fetch(`${node.url}/api/v1/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${node.config.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as PublishResult['body'] };
}
