/**
 * SDK devices (`@herald/client/binary` on `ws`) with per-device recording of
 * what the app receives: reliable seqs after the SDK's dedupe, ephemeral
 * messages, close codes, unrecovered resumes. A seeded share of a fleet speaks
 * the binary protocol v2 (`herald.v2.bin`), the rest JSON v1: the invariants
 * hold for both, and both are mixed on every node.
 */
import { WebSocket } from 'ws';
import { HeraldClient, type HeraldMessage, type WebSocketConstructor } from '@herald/client/binary';
import type { DeviceRecording } from './recording.js';
import type { Rng } from './rng.js';
import { mintToken } from '@herald/testkit';
import { withTimeout } from './wait.js';

export interface DeviceSpec {
  tenant: string;
  user: string;
  device: string;
  /** Token lifetime, seconds (default 3600). With `refreshTokens`, a provider mints a fresh one each time. */
  tokenTtlSec?: number;
  refreshTokens?: boolean;
  /** Manual acks, each delayed by a seeded 0..ackDelayMaxMs (slow apps: the server resends, the SDK dedupes). */
  ackDelayMaxMs?: number;
  rooms?: string[];
  /** Connect through this URL instead of the fleet's (e.g. a dedicated fault proxy). */
  url?: string;
  /** SDK heartbeat timeout override (a throttled device should be cut by the server, not by itself). */
  heartbeatTimeoutMs?: number;
  /** Wire protocol; unset: the fleet picks (seeded, `binaryShare`). */
  protocol?: 'json' | 'binary';
  /** Binary protocol: offer DEFLATE (`auto`) or nothing. Unset: seeded. */
  compression?: 'auto' | 'none';
}

export interface FleetOptions {
  url: string;
  jwtSecret: string;
  rng: Rng;
  /** Publisher position, read at each device's first welcome. */
  publishIndex: () => number;
  /** Share of devices (without an explicit `protocol`) that speak binary v2, 0..1 (default 0). */
  binaryShare?: number;
}

export class Device {
  readonly rec: DeviceRecording;
  readonly client: HeraldClient;
  private readonly ackTimers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    readonly spec: DeviceSpec,
    private readonly o: FleetOptions,
    rng: Rng,
  ) {
    const key = `${spec.tenant}/${spec.user}/${spec.device}`;
    this.rec = { key, tenant: spec.tenant, user: spec.user, device: spec.device, sinceIndex: undefined, delivered: [], ephemeral: [], unrecovered: 0, closeCodes: [], welcomes: 0, duplicatesDropped: 0 };
    const ttl = spec.tokenTtlSec ?? 3600;
    const mint = (): string => mintToken(o.jwtSecret, { sub: spec.user, tid: spec.tenant, did: spec.device, ttlSec: ttl });
    const manual = spec.ackDelayMaxMs !== undefined;
    this.client = new HeraldClient({
      url: spec.url ?? o.url,
      ...(spec.heartbeatTimeoutMs !== undefined ? { heartbeatTimeoutMs: spec.heartbeatTimeoutMs } : {}),
      token: spec.refreshTokens ? mint : mint(),
      device: spec.device,
      protocol: spec.protocol ?? 'json',
      ...(spec.protocol === 'binary' ? { compression: spec.compression ?? 'auto' } : {}),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      ackMode: manual ? 'manual' : 'auto',
      minReconnectDelayMs: 100,
      maxReconnectDelayMs: 2000,
      connectTimeoutMs: 5000,
      requestTimeoutMs: 8000,
      tokenRefreshLeadMs: spec.refreshTokens ? Math.max(1000, Math.floor((ttl * 1000) / 2)) : 0,
      random: () => rng.next(),
    });
    const c = this.client;
    c.on('connected', () => {
      this.rec.welcomes++;
      if (this.rec.sinceIndex === undefined) this.rec.sinceIndex = o.publishIndex();
    });
    c.on('message', (m: HeraldMessage) => this.onMessage(m, manual ? rng : undefined));
    c.on('unrecovered', () => this.rec.unrecovered++);
    c.on('disconnected', (e) => this.rec.closeCodes.push(e.code));
    c.on('closed', (e) => {
      this.rec.closeCodes.push(e.code);
      if (e.error) this.rec.stopped = `${e.error.code} (${e.code})`;
    });
    c.on('error', () => {});
  }

  private onMessage(m: HeraldMessage, ackRng: Rng | undefined): void {
    const data = (m.data ?? {}) as { p?: unknown; t?: unknown };
    const tenant = typeof data.t === 'string' ? data.t : undefined;
    if (m.seq === undefined) {
      this.rec.ephemeral.push({ tenant, at: Date.now() });
      return;
    }
    this.rec.delivered.push({ seq: m.seq, pid: typeof data.p === 'number' ? data.p : undefined, tenant, at: Date.now() });
    if (ackRng && this.spec.ackDelayMaxMs !== undefined) {
      const t = setTimeout(() => {
        this.ackTimers.delete(t);
        m.ack();
      }, ackRng.int(0, this.spec.ackDelayMaxMs));
      this.ackTimers.add(t);
    }
  }

  async connect(): Promise<void> {
    // A closed device stays closed: the SDK would connect again, and a connect still queued when a
    // scenario ends (connectAll timed out, a late joiner) would leave a device online in the next one.
    if (this.closed) return;
    await this.client.connect();
    for (const r of this.spec.rooms ?? []) if (!this.closed) await this.client.join(r);
  }

  close(): void {
    this.closed = true;
    for (const t of this.ackTimers) clearTimeout(t);
    this.ackTimers.clear();
    this.rec.duplicatesDropped = this.client.stats.duplicatesDropped;
    this.client.close();
  }
}

/** A set of SDK devices for one scenario. */
export class Fleet {
  readonly devices: Device[] = [];

  constructor(private readonly o: FleetOptions) {}

  add(spec: DeviceSpec): Device {
    const key = `${spec.tenant}/${spec.user}/${spec.device}`;
    if (spec.protocol === undefined) {
      // A separate fork: the protocol draw does not shift the device's own stream (backoff jitter, ack delays).
      const r = this.o.rng.fork(`protocol:${key}`);
      const binary = r.next() < (this.o.binaryShare ?? 0);
      spec = { ...spec, protocol: binary ? 'binary' : 'json', ...(binary && spec.compression === undefined ? { compression: r.next() < 0.5 ? 'auto' : 'none' } : {}) };
    }
    const d = new Device(spec, this.o, this.o.rng.fork(key));
    this.devices.push(d);
    return d;
  }

  /** Connects every device (bounded concurrency) and waits for each first welcome. */
  async connectAll(timeoutMs: number, concurrency = 20): Promise<void> {
    const queue = [...this.devices];
    const workers = Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let d = queue.shift(); d; d = queue.shift()) await d.connect();
    });
    await withTimeout('connecting every device', Promise.all(workers), timeoutMs);
  }

  /** Devices on the binary protocol v2. */
  binaryCount(): number {
    return this.devices.filter((d) => d.spec.protocol === 'binary').length;
  }

  recordings(): DeviceRecording[] {
    return this.devices.map((d) => d.rec);
  }

  /** Devices currently connected (welcome received on the live socket). */
  connectedCount(): number {
    return this.devices.filter((d) => d.client.state === 'connected').length;
  }

  closeAll(): void {
    for (const d of this.devices) d.close();
  }
}
