/**
 * A real HTTP backend for hook tests (node:http on port 0): one handler per
 * hook path, every request recorded (headers, raw body), and a `hang` mode
 * that holds requests until released, like a backend that stopped answering.
 */
import { after } from 'node:test';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
}

export type Handler = (body: Record<string, unknown>, res: ServerResponse, seen: Seen) => void;

export interface Backend {
  url(path: string): string;
  /** Sets the handler of `/path` (connect, join, publish, rpc). */
  on(path: string, h: Handler): void;
  seen: Seen[];
  count(path: string): number;
  /** Requests held by `hang`; released (answered 200 `{}`... or destroyed) by `releaseHung`. */
  releaseHung(): void;
}

export function json(res: ServerResponse, obj: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(obj));
}

/** A handler that never answers (until `releaseHung`). */
export const hang: Handler = () => undefined;

export async function startBackend(): Promise<Backend> {
  const handlers = new Map<string, Handler>();
  const seen: Seen[] = [];
  const held = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const path = (req.url ?? '/').slice(1);
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        /* recorded raw */
      }
      const s: Seen = { path, headers: req.headers, raw, body };
      seen.push(s);
      const h = handlers.get(path);
      if (!h) return json(res, { error: 'no handler' }, 404);
      held.add(res);
      res.on('close', () => held.delete(res));
      h(body, res, s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    url: (p) => base + p,
    on: (p, h) => handlers.set(p, h),
    seen,
    count: (p) => seen.filter((s) => s.path === p).length,
    releaseHung: () => {
      for (const res of held) res.destroy();
      held.clear();
    },
  };
}
