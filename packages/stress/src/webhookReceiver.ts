/**
 * An in-process webhook receiver for the `webhooks` scenario (docs/events.md):
 * verifies every POST's `Herald-Signature` over the raw body (its own check,
 * independent of the server's code), and records every event it got with the
 * way it answered. Its behaviour is set by the scenario (seeded): answer at
 * once, slowly, with a 5xx or a 4xx, with garbage, or hang until the sender
 * gives up. Only events of requests it answered 2xx in time are "accepted":
 * the others may be — must be — sent again.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How the receiver answers the next requests. */
export type ReceiverMode = 'ok' | 'garbage' | 'slow' | 'error' | 'reject' | 'hang';

/** One webhook event as received (docs/events.md fields). */
export interface ReceivedEvent {
  id: string;
  type: string;
  ts: number;
  node: string;
  tenant: string;
  user: string;
  device?: string;
  conn?: string;
  code?: number;
  reason?: string;
  seq?: number;
  message_id?: string;
  /** The event's JSON as received (a repeat must be identical). */
  json: string;
  /** When the receiver read it, ms since the epoch. */
  at: number;
}

export interface ReceiverStats {
  requests: number;
  accepted: number;
  badSignature: number;
  byMode: Record<ReceiverMode, number>;
}

export class WebhookReceiver {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly hanging = new Set<ServerResponse>();
  mode: ReceiverMode = 'ok';
  /** `slow` answers after this long (below the sender's timeout: accepted). */
  slowMs = 200;
  /** Events of requests answered 2xx, in the order they were answered (repeats included). */
  readonly accepted: ReceivedEvent[] = [];
  /** Events of requests answered otherwise (or not at all): the sender must send them again. */
  readonly refused: ReceivedEvent[] = [];
  readonly stats: ReceiverStats = { requests: 0, accepted: 0, badSignature: 0, byMode: { ok: 0, garbage: 0, slow: 0, error: 0, reject: 0, hang: 0 } };
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

  /** Releases hung requests (they end without an answer) and closes every socket. */
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
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      // Bounded: a batch of 100 small events is far below this.
      if (size <= 16 * 1048576) chunks.push(c);
    });
    req.on('error', () => {});
    req.on('end', () => {
      this.stats.requests++;
      const raw = Buffer.concat(chunks).toString('utf8');
      if (req.method !== 'POST' || !verify(this.secret, raw, req.headers['herald-signature'])) {
        this.stats.badSignature++;
        res.writeHead(401).end();
        return;
      }
      let events: ReceivedEvent[];
      try {
        events = parseBatch(raw, Date.now());
      } catch {
        this.stats.badSignature++;
        res.writeHead(400).end();
        return;
      }
      const mode = this.mode;
      this.stats.byMode[mode]++;
      const accept = (status: number, body = ''): void => {
        if (res.destroyed) {
          // The sender gave up before the answer (it will resend): not accepted.
          this.refused.push(...events);
          return;
        }
        res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
        this.accepted.push(...events);
        this.stats.accepted++;
      };
      switch (mode) {
        case 'ok':
          accept(204);
          break;
        case 'garbage':
          accept(200, '<<not json>>');
          break;
        case 'slow':
          setTimeout(() => accept(200, '{}'), this.slowMs);
          break;
        case 'error':
          this.refused.push(...events);
          res.writeHead(events.length % 2 === 0 ? 503 : 500).end('down');
          break;
        case 'reject':
          this.refused.push(...events);
          res.writeHead(400).end('{"error":"receiver bug"}');
          break;
        case 'hang':
          this.refused.push(...events);
          this.hanging.add(res);
          res.on('close', () => this.hanging.delete(res));
          break;
      }
    });
  }
}

/** `t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, t within 300 s. */
export function verify(secret: string, raw: string, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false;
  const t = /(?:^|,)t=(\d+)/.exec(header)?.[1];
  const v1 = /(?:^|,)v1=([0-9a-f]{64})/.exec(header)?.[1];
  if (!t || !v1 || Math.abs(Date.now() / 1000 - Number(t)) > 300) return false;
  const mac = createHmac('sha256', secret).update(`${t}.${raw}`).digest();
  return timingSafeEqual(mac, Buffer.from(v1, 'hex'));
}

function parseBatch(raw: string, at: number): ReceivedEvent[] {
  const body = JSON.parse(raw) as { events?: unknown };
  if (!Array.isArray(body.events)) throw new Error('no events array');
  return body.events.map((e) => {
    const o = e as Omit<ReceivedEvent, 'json' | 'at'>;
    return { ...o, json: JSON.stringify(e), at };
  });
}
