/**
 * In-process TCP fault proxy (node:net) between clients and Herald nodes, or
 * between Herald nodes and Redis. It forwards bytes unchanged and, on demand:
 * - adds latency (per chunk, order kept) with seeded jitter,
 * - refuses new connections (the upstream looks unreachable),
 * - drops a seeded fraction of new connections at accept time,
 * - stalls traffic (a black hole: bytes are held, not delivered, then released),
 * - cuts existing connections (both sides reset, like a network failure),
 * - throttles chosen connections' downstream (stops reading from upstream: a
 *   slow consumer as the server sees it, with real TCP backpressure).
 * With several upstream targets it balances new connections round-robin and
 * skips targets that refuse (a minimal load balancer).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Rng } from './rng.js';

export interface ProxyTarget {
  host: string;
  port: number;
}

interface Pipe {
  queue: { buf: Buffer; due: number }[];
  timer: NodeJS.Timeout | undefined;
}

export interface ProxyConn {
  readonly id: number;
  readonly client: Socket;
  readonly upstream: Socket;
  readonly target: ProxyTarget;
  throttled: boolean;
  /** Set by throttleWhenSent: the client's bytes that, once seen, throttle this connection. */
  throttleOn?: ((chunk: Buffer) => boolean) | undefined;
  closed: boolean;
  /** One side closed: finish writing what is queued, then close the other. */
  closing: boolean;
  down: Pipe;
  up: Pipe;
}

export interface FaultProxyStats {
  accepted: number;
  refused: number;
  dropped: number;
  cut: number;
  open: number;
}

export class FaultProxy {
  private server: Server | undefined;
  private readonly conns = new Set<ProxyConn>();
  private nextId = 1;
  private rr = 0;
  private latencyMs = 0;
  private jitterMs = 0;
  private refusing = false;
  private dropRate = 0;
  private stalled = false;
  readonly stats: FaultProxyStats = { accepted: 0, refused: 0, dropped: 0, cut: 0, open: 0 };
  port = 0;

  constructor(
    readonly name: string,
    private targets: ProxyTarget[],
    private readonly rng: Rng,
  ) {}

  async listen(): Promise<number> {
    const srv = createServer((c) => this.accept(c));
    this.server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => resolve());
    });
    const a = srv.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
    return this.port;
  }

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  setTargets(targets: ProxyTarget[]): void {
    this.targets = targets;
  }

  setLatency(ms: number, jitterMs = 0): void {
    this.latencyMs = ms;
    this.jitterMs = jitterMs;
  }

  setRefuse(on: boolean): void {
    this.refusing = on;
  }

  setDropRate(p: number): void {
    this.dropRate = p;
  }

  /** Holds every byte in flight (both ways) until `stall(false)`. */
  stall(on: boolean): void {
    this.stalled = on;
    if (!on) for (const c of this.conns) this.flushBoth(c);
  }

  openConnections(): ProxyConn[] {
    return [...this.conns].filter((c) => !c.closed);
  }

  /** Resets both sides of every open connection (or of a seeded fraction). Returns how many. */
  cut(fraction = 1): number {
    let n = 0;
    for (const c of this.openConnections()) {
      if (fraction >= 1 || this.rng.chance(fraction)) {
        this.kill(c);
        n++;
      }
    }
    this.stats.cut += n;
    return n;
  }

  /**
   * Throttles the connection (as `throttle(c, true)`) the moment the client sends bytes that
   * `match` — before they are forwarded, so the upstream's answer to them is surely held. For a
   * test that needs a command to reach the server while its reply does not come back.
   */
  throttleWhenSent(c: ProxyConn, match: (chunk: Buffer) => boolean): void {
    c.throttleOn = match;
  }

  /** Stops reading the upstream side of a connection (or resumes it). */
  throttle(c: ProxyConn, on: boolean): void {
    c.throttled = on;
    if (on) c.upstream.pause();
    else if (!c.closed) c.upstream.resume();
  }

  async close(): Promise<void> {
    for (const c of this.conns) this.kill(c);
    const srv = this.server;
    this.server = undefined;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  private accept(client: Socket): void {
    client.setNoDelay(true);
    client.on('error', () => {});
    if (this.refusing || this.targets.length === 0) {
      this.stats.refused++;
      client.on('error', () => {});
      client.resetAndDestroy();
      return;
    }
    if (this.dropRate > 0 && this.rng.chance(this.dropRate)) {
      this.stats.dropped++;
      client.on('error', () => {});
      client.resetAndDestroy();
      return;
    }
    this.stats.accepted++;
    this.tryTarget(client, 0);
  }

  private tryTarget(client: Socket, tried: number): void {
    if (tried >= this.targets.length) {
      this.stats.refused++;
      client.on('error', () => {});
      client.resetAndDestroy();
      return;
    }
    const target = this.targets[this.rr++ % this.targets.length] as ProxyTarget;
    const upstream = connect({ host: target.host, port: target.port });
    upstream.setNoDelay(true);
    client.pause();
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      this.wire(client, upstream, target);
      client.resume();
    });
    upstream.once('error', () => {
      if (!connected) {
        upstream.destroy();
        this.tryTarget(client, tried + 1);
      }
    });
  }

  private wire(client: Socket, upstream: Socket, target: ProxyTarget): void {
    const c: ProxyConn = {
      id: this.nextId++,
      client,
      upstream,
      target,
      throttled: false,
      closed: false,
      closing: false,
      down: { queue: [], timer: undefined },
      up: { queue: [], timer: undefined },
    };
    this.conns.add(c);
    this.stats.open = this.conns.size;
    client.on('data', (b: Buffer) => {
      if (c.throttleOn?.(b)) {
        c.throttleOn = undefined;
        this.throttle(c, true);
      }
      this.forward(c, c.up, b, upstream);
    });
    upstream.on('data', (b: Buffer) => this.forward(c, c.down, b, client));
    const end = (): void => {
      c.closing = true;
      this.maybeFinish(c);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', () => {});
    upstream.on('error', () => {});
  }

  private forward(c: ProxyConn, p: Pipe, buf: Buffer, dst: Socket): void {
    const delay = this.latencyMs > 0 ? this.latencyMs + (this.jitterMs > 0 ? this.rng.int(0, this.jitterMs) : 0) : 0;
    if (delay === 0 && p.queue.length === 0 && !this.stalled) {
      dst.write(buf);
      return;
    }
    const last = p.queue[p.queue.length - 1];
    p.queue.push({ buf, due: Math.max(Date.now() + delay, last ? last.due : 0) });
    this.schedule(c, p, dst);
  }

  private flushBoth(c: ProxyConn): void {
    this.schedule(c, c.up, c.upstream);
    this.schedule(c, c.down, c.client);
  }

  private schedule(c: ProxyConn, p: Pipe, dst: Socket): void {
    if (p.timer || this.stalled || c.closed) return;
    const head = p.queue[0];
    if (!head) return;
    p.timer = setTimeout(
      () => {
        p.timer = undefined;
        if (this.stalled || c.closed) return;
        const now = Date.now();
        // Bounded: at most the queue's current length per tick.
        for (let n = p.queue.length; n > 0; n--) {
          const h = p.queue[0];
          if (!h || h.due > now) break;
          p.queue.shift();
          dst.write(h.buf);
        }
        this.schedule(c, p, dst);
        this.maybeFinish(c);
      },
      Math.max(0, head.due - Date.now()),
    );
  }

  private maybeFinish(c: ProxyConn): void {
    if (c.closing && (this.stalled || (c.up.queue.length === 0 && c.down.queue.length === 0))) this.kill(c, false);
  }

  private kill(c: ProxyConn, reset = true): void {
    if (c.closed) return;
    c.closed = true;
    for (const p of [c.up, c.down]) {
      if (p.timer) clearTimeout(p.timer);
      p.timer = undefined;
      p.queue.length = 0;
    }
    if (reset) {
      resetSocket(c.client);
      resetSocket(c.upstream);
    } else {
      // Graceful: flush what the sockets already hold, then FIN; destroy if the peer lingers.
      c.client.end();
      c.upstream.end();
      setTimeout(() => {
        c.client.destroy();
        c.upstream.destroy();
      }, 2000).unref();
    }
    this.conns.delete(c);
    this.stats.open = this.conns.size;
  }
}

/**
 * RST when the socket can still send one; a plain destroy once its write side has ended. On Node 20
 * a `resetAndDestroy()` after `end()` (a half-close passed on from the other side) leaves the TCP
 * handle in libuv's close queue for good: the process then spins at 100 % CPU at exit, in node's
 * handle cleanup, and never ends (seen as a test file that passes and then times out).
 */
export function resetSocket(s: Socket): void {
  if (s.destroyed) return;
  if (s.writableEnded) s.destroy();
  else s.resetAndDestroy();
}
