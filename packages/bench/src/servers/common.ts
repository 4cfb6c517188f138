/**
 * HTTP plumbing shared by the comparison servers. Both expose Herald's publish
 * path and body (POST /api/v1/publish, Bearer API key, {"to":{room|user},"data"})
 * so one publisher drives every target, plus GET /readyz and GET /stats (the
 * process's own RSS and V8 heap, which Herald reports through /metrics).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface BenchServerEnv {
  port: number;
  host: string;
  secret: string;
  apiKey: string;
}

export function readEnv(): BenchServerEnv {
  const secret = process.env.BENCH_JWT_SECRET;
  const apiKey = process.env.BENCH_API_KEY;
  if (!secret || !apiKey) throw new Error('BENCH_JWT_SECRET and BENCH_API_KEY are required');
  return { port: Number(process.env.BENCH_PORT ?? 0), host: process.env.BENCH_HOST ?? '127.0.0.1', secret, apiKey };
}

export type PublishTarget = { room: string } | { user: string };

export interface PublishBody {
  to: PublishTarget;
  data: unknown;
}

export const MAX_BODY = 1 << 20;

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function parsePublish(text: string): PublishBody | null {
  let b: { to?: { room?: unknown; user?: unknown }; data?: unknown };
  try {
    b = JSON.parse(text) as typeof b;
  } catch {
    return null;
  }
  if (!b.to || typeof b.to !== 'object') return null;
  if (typeof b.to.room === 'string') return { to: { room: b.to.room }, data: b.data };
  if (typeof b.to.user === 'string') return { to: { user: b.to.user }, data: b.data };
  return null;
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

export function stats(connections: number): Record<string, number> {
  const m = process.memoryUsage();
  return { connections, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external };
}

/**
 * Routes the endpoints every bench server shares; returns false for paths the
 * caller must handle. `publish` returns the number of sockets written to.
 */
export async function handleCommon(
  req: IncomingMessage,
  res: ServerResponse,
  env: BenchServerEnv,
  publish: (b: PublishBody) => number,
  connections: () => number,
): Promise<boolean> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method === 'GET' && path === '/readyz') {
    json(res, 200, { ok: true });
    return true;
  }
  if (req.method === 'GET' && path === '/stats') {
    json(res, 200, stats(connections()));
    return true;
  }
  if (req.method === 'POST' && path === '/api/v1/publish') {
    if (req.headers.authorization !== `Bearer ${env.apiKey}`) {
      json(res, 401, { error: { code: 'unauthorized', message: 'bad api key' } });
      return true;
    }
    let text: string;
    try {
      text = await readBody(req);
    } catch {
      json(res, 413, { error: { code: 'too_large', message: 'body too large' } });
      return true;
    }
    const body = parsePublish(text);
    if (!body) {
      json(res, 400, { error: { code: 'bad_request', message: 'expected {"to":{"room"|"user"},"data"}' } });
      return true;
    }
    const online = publish(body);
    json(res, 200, { id: String(++publishCounter), online });
    return true;
  }
  return false;
}

let publishCounter = 0;

/** Exit cleanly on SIGTERM/SIGINT so `--cpu-prof` profiles are written. */
export function exitOnSignals(close: () => void): void {
  const stop = (): void => {
    close();
    // Give sockets a moment to flush close frames, but never hang the bench.
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
