/**
 * A real webhook receiver for tests: node:http on a port (0: a free one),
 * recording every request (raw body, signature header, parsed events) and
 * answering what the test says (`answer`, e.g. 503 for the next N requests).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../src/outbound/signature.js';

export interface ReceivedEvent {
  id: string;
  type: string;
  ts: number;
  node: string;
  tenant: string;
  user: string;
  [k: string]: unknown;
}

export interface ReceivedRequest {
  raw: string;
  signature: string | undefined;
  status: number;
  events: ReceivedEvent[];
}

export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  /** Status answered per request; `queue` first (one entry per request), then `status`. */
  queue: number[] = [];
  status = 200;
  /** While true, requests are read and recorded (status 0) but never answered. */
  hang = false;
  private readonly hung = new Set<import('node:http').ServerResponse>();
  private server: Server | undefined;
  port = 0;

  constructor(private readonly secret: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async start(port = this.port): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        if (this.hang) {
          this.requests.push({ raw, signature: req.headers['herald-signature'] as string | undefined, status: 0, events: [] });
          this.hung.add(res);
          return;
        }
        const status = this.queue.length > 0 ? this.queue.shift()! : this.status;
        let events: ReceivedEvent[] = [];
        try {
          events = (JSON.parse(raw) as { events: ReceivedEvent[] }).events;
        } catch {
          // recorded with no events: the test sees it
        }
        this.requests.push({ raw, signature: req.headers['herald-signature'] as string | undefined, status, events });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'not json, and that is fine' : 'no');
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** Ends the hanging requests (their senders see a failure and retry). */
  release(): void {
    this.hang = false;
    for (const res of this.hung) res.destroy();
    this.hung.clear();
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  /** Events of requests answered 2xx, in arrival order. */
  accepted(): ReceivedEvent[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300).flatMap((r) => r.events);
  }

  /** Accepted events, each id once (receivers dedupe by id). */
  unique(): ReceivedEvent[] {
    const seen = new Set<string>();
    return this.accepted().filter((e) => !seen.has(e.id) && seen.add(e.id));
  }

  of(type: string, user?: string): ReceivedEvent[] {
    return this.unique().filter((e) => e.type === type && (user === undefined || e.user === user));
  }

  verified(r: ReceivedRequest): boolean {
    return verifySignature(r.raw, r.signature, this.secret);
  }
}
