/**
 * An in-process connect-hook backend for the `hooks` scenario (docs/hooks.md):
 * verifies each call's `Herald-Signature`, and answers as the scenario sets it
 * (seeded): an identity from the `u` query parameter (a `ban=1` connection is
 * refused 4003), slowly, never (hangs until Herald gives up), 500, or garbage.
 * (Down is the fault proxy in front of it refusing connections.)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { verify } from './webhookReceiver.js';

export type HookMode = 'ok' | 'slow' | 'hang' | 'fail' | 'garbage';

export class HookServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly hanging = new Set<ServerResponse>();
  mode: HookMode = 'ok';
  /** `slow` answers after this long. */
  slowMs = 100;
  readonly calls: Record<HookMode, number> = { ok: 0, slow: 0, hang: 0, fail: 0, garbage: 0 };
  badSignature = 0;
  port = 0;

  constructor(private readonly secret: string) {}

  async listen(): Promise<number> {
    const srv = createServer((req, res) => this.handle(req, res));
    srv.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => resolve());
    });
    const a = srv.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
    return this.port;
  }

  /** Calls held by `hang` right now. */
  get hangingNow(): number {
    return this.hanging.size;
  }

  async close(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    this.hanging.clear();
    for (const s of this.sockets) s.destroy();
    const srv = this.server;
    this.server = undefined;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.length < 1024 && chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      if (!verify(this.secret, raw, req.headers['herald-signature'])) {
        this.badSignature++;
        res.writeHead(401).end();
        return;
      }
      const mode = this.mode;
      this.calls[mode]++;
      const answer = (): void => {
        if (res.destroyed) return;
        let query: Record<string, string> = {};
        try {
          query = (JSON.parse(raw) as { query?: Record<string, string> }).query ?? {};
        } catch {
          // answered as a refusal below
        }
        const body = query.ban === '1' || !query.u ? { reject: { code: 4003, reason: 'banned' } } : { user: query.u, tenant: 't1' };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      switch (mode) {
        case 'ok':
          answer();
          break;
        case 'slow':
          setTimeout(answer, this.slowMs);
          break;
        case 'fail':
          res.writeHead(500).end('backend down');
          break;
        case 'garbage':
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"user":');
          break;
        case 'hang':
          this.hanging.add(res);
          res.on('close', () => this.hanging.delete(res));
          break;
      }
    });
  }
}
