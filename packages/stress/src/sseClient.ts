/**
 * A small Server-Sent Events device for the `sse` scenario (docs/protocol.md,
 * "Server-Sent Events"), on node:http: it reads `GET /sse` through the client
 * fault proxy, dedupes reliable messages by seq (as the SDK does), acks by
 * `POST /sse/ack` to the node holding its stream (a sticky path, as a load
 * balancer must provide), and after a cut reconnects with `Last-Event-ID` =
 * its watermark. It records into the same shape as the SDK devices
 * (`DeviceRecording`), so the delivery invariant applies unchanged.
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { mintToken } from '@herald/testkit';
import { httpRequest } from './http.js';
import type { DeviceRecording } from './recording.js';
import type { Rng } from './rng.js';

export interface SseDeviceOptions {
  tenant: string;
  user: string;
  device: string;
  jwtSecret: string;
  /** Port the stream is opened through (the client fault proxy). */
  streamPort: number;
  /** Port to POST acks to for the node named in the welcome (undefined: not known). */
  postPort(node: string): number | undefined;
  /** Publisher position, read at the first welcome. */
  publishIndex(): number;
  rng: Rng;
  /** Seeded share of ack POSTs not sent (the server resends after its ack timeout; dedupe drops the repeats). */
  ackLossRate: number;
}

/** Close codes after which reconnecting is pointless (docs/protocol.md, close codes). */
const TERMINAL = new Set([4001, 4003, 4004]);

export class SseDevice {
  readonly rec: DeviceRecording;
  /** Answers of ack POSTs by status (0: no answer). */
  readonly ackStatus = new Map<number, number>();
  /** Streams refused with an HTTP status (e.g. 503 while a node dies), by status. */
  readonly refusals = new Map<number, number>();
  /** Streams opened with a Last-Event-ID header. */
  resumes = 0;
  /** Events whose data was not JSON (a broken stream). */
  badEvents = 0;
  private watermark: number | undefined;
  private node: string | undefined;
  private heartbeatMs = 25_000;
  private req: ClientRequest | undefined;
  private open = false;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private ackTimer: NodeJS.Timeout | undefined;
  private readonly token: string;
  private firstWelcome: (() => void) | undefined;

  constructor(private readonly o: SseDeviceOptions) {
    this.rec = { key: `${o.tenant}/${o.user}/${o.device}`, tenant: o.tenant, user: o.user, device: o.device, sinceIndex: undefined, delivered: [], ephemeral: [], unrecovered: 0, closeCodes: [], welcomes: 0, duplicatesDropped: 0 };
    this.token = mintToken(o.jwtSecret, { sub: o.user, tid: o.tenant, did: o.device, ttlSec: 3600 });
  }

  /** True while a welcomed stream is open. */
  get connected(): boolean {
    return this.open;
  }

  /** Opens the stream; resolves at the first welcome (reconnecting meanwhile). */
  connect(): Promise<void> {
    const first = new Promise<void>((resolve) => (this.firstWelcome = resolve));
    this.openStream();
    return first;
  }

  close(): void {
    this.stopped = true;
    this.open = false;
    clearTimeout(this.retry);
    clearTimeout(this.watchdog);
    clearTimeout(this.ackTimer);
    this.req?.destroy();
  }

  private openStream(): void {
    if (this.stopped) return;
    const q = new URLSearchParams({ token: this.token, device: this.o.device });
    const headers: Record<string, string> = { accept: 'text/event-stream', connection: 'close' };
    if (this.watermark !== undefined) {
      headers['last-event-id'] = String(this.watermark);
      this.resumes++;
    }
    const req = request({ host: '127.0.0.1', port: this.o.streamPort, path: `/sse?${q.toString()}`, headers, agent: false }, (res) => this.onResponse(req, res));
    this.req = req;
    req.on('error', () => this.lost(req));
    req.end();
  }

  private onResponse(req: ClientRequest, res: IncomingMessage): void {
    if (res.statusCode !== 200) {
      this.refusals.set(res.statusCode ?? 0, (this.refusals.get(res.statusCode ?? 0) ?? 0) + 1);
      res.resume();
      res.on('end', () => this.lost(req));
      res.on('error', () => this.lost(req));
      return;
    }
    res.setEncoding('utf8');
    let buf = '';
    this.kick(req);
    res.on('data', (chunk: string) => {
      this.kick(req);
      buf += chunk;
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        this.onEvent(buf.slice(0, i));
        buf = buf.slice(i + 2);
      }
    });
    res.on('end', () => this.lost(req));
    res.on('error', () => this.lost(req));
    res.on('close', () => this.lost(req));
  }

  /** Restarts the silence watchdog: 3 heartbeats without a byte means the stream is dead. */
  private kick(req: ClientRequest): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => req.destroy(), this.heartbeatMs * 3);
  }

  /** The stream `req` ended: reconnect after a seeded short backoff (once per stream). */
  private lost(req: ClientRequest): void {
    if (this.req !== req) return;
    this.req = undefined;
    clearTimeout(this.watchdog);
    if (this.open) this.rec.closeCodes.push(1006);
    this.open = false;
    req.destroy();
    if (this.stopped) return;
    this.retry = setTimeout(() => this.openStream(), this.o.rng.int(50, 400));
  }

  private onEvent(block: string): void {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':') || line === '') continue;
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) return;
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(data.join('\n')) as Record<string, unknown>;
    } catch {
      this.badEvents++;
      return;
    }
    if (event === 'welcome') this.onWelcome(frame);
    else if (event === 'message') this.onMessage(frame);
    else if (event === 'close') {
      const code = typeof frame.code === 'number' ? frame.code : 0;
      this.rec.closeCodes.push(code);
      if (TERMINAL.has(code)) {
        this.rec.stopped = `closed ${code}: ${String(frame.reason)}`;
        this.close();
      }
    }
  }

  private onWelcome(w: Record<string, unknown>): void {
    this.rec.welcomes++;
    this.open = true;
    if (this.rec.sinceIndex === undefined) this.rec.sinceIndex = this.o.publishIndex();
    if (w.recovered === false) this.rec.unrecovered++;
    // The server's last_seq is authoritative (as in the SDK): the new watermark.
    if (typeof w.last_seq === 'number') this.watermark = w.last_seq;
    if (typeof w.node === 'string') this.node = w.node;
    if (typeof w.heartbeat_ms === 'number') this.heartbeatMs = w.heartbeat_ms;
    this.firstWelcome?.();
    this.firstWelcome = undefined;
  }

  private onMessage(m: Record<string, unknown>): void {
    const d = (m.data ?? {}) as { p?: unknown; t?: unknown };
    const tenant = typeof d.t === 'string' ? d.t : undefined;
    if (typeof m.seq !== 'number') {
      this.rec.ephemeral.push({ tenant, at: Date.now() });
      return;
    }
    if (this.watermark !== undefined && m.seq <= this.watermark) {
      this.rec.duplicatesDropped++;
      this.scheduleAck(); // the server resent what it thinks unacked: ack again so it stops
      return;
    }
    this.watermark = m.seq;
    this.rec.delivered.push({ seq: m.seq, pid: typeof d.p === 'number' ? d.p : undefined, tenant, at: Date.now() });
    this.scheduleAck();
  }

  /** Cumulative acks, coalesced over 20 ms; a seeded share is lost on purpose. */
  private scheduleAck(): void {
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      const seq = this.watermark;
      const port = this.node === undefined ? undefined : this.o.postPort(this.node);
      if (seq === undefined || port === undefined || !this.open || this.o.rng.chance(this.o.ackLossRate)) return;
      // `apiKey` is sent as `Authorization: Bearer`: here the stream's JWT, as the endpoint wants.
      httpRequest(port, 'POST', '/sse/ack', { body: { device: this.o.device, seq }, apiKey: this.token, timeoutMs: 5000 }).then(
        (r) => this.ackStatus.set(r.status, (this.ackStatus.get(r.status) ?? 0) + 1),
        () => this.ackStatus.set(0, (this.ackStatus.get(0) ?? 0) + 1),
      );
    }, 20);
  }
}
