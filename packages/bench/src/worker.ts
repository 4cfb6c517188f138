/**
 * A client process: holds up to ~19k WebSocket connections (the per-process
 * open-files limit is 20,000), authenticates and joins them, then counts
 * deliveries and records publish→deliver latency from the timestamp in each
 * payload. Driven by the orchestrator over IPC (see ipc.ts).
 */
import WebSocket from 'ws';
import { nowUs } from './clock.js';
import { createHistogram, encodeHistogram } from './histogram.js';
import type { Histogram } from './histogram.js';
import type { Connected, FromWorker, Tick, ToWorker, WorkerInit } from './ipc.js';
import { connectBaseFor } from './ipc.js';
import { signHs256 } from '@herald/testkit';
import { protocolFor } from './targets/index.js';
import type { ClientProtocol, Inbound } from './targets/types.js';
import { isBenchPayload } from './targets/types.js';
import { peekDelivery } from './targets/peek.js';

interface Conn {
  index: number;
  user: string;
  token: string;
  room: number; // index into init.rooms, -1 for none
  ws: WebSocket | null;
  ready: boolean;
  /** Highest reliable seq seen; later deliveries with seq ≤ this are resends. */
  lastSeq: number;
  /** Seq to ack at the next flush, 0 if none. */
  ackSeq: number;
}

function send(m: FromWorker): void {
  process.send?.(m);
}

class ClientWorker {
  private readonly proto: ClientProtocol;
  private readonly conns: Conn[] = [];
  private measuring = false;
  private deliveries = 0;
  private duplicates = 0;
  private hist: Histogram = createHistogram();
  private errors: Record<string, number> = {};
  private open = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Per-room joined connections that are open: the fan-out each broadcast must reach here. */
  private joinedByRoom: number[];
  /** Broadcast completion: receipts per message index, for indexes ≥ completed. */
  private receipts = new Map<number, number>();
  private completed = 0;
  private maxK = -1;
  private ackQueue: Conn[] = [];
  private ackScheduled = false;
  private stopping = false;
  private completedScheduled = false;

  constructor(private readonly init: WorkerInit) {
    this.proto = protocolFor(init.target);
    this.joinedByRoom = init.rooms.map(() => 0);
    const exp = Math.floor(Date.now() / 1000) + init.tokenTtlSec;
    for (let i = 0; i < init.count; i++) {
      const index = init.first + i;
      const user = `u${index}`;
      this.conns.push({
        index,
        user,
        token: signHs256({ sub: user, exp }, init.secret),
        room: init.rooms.length > 0 ? index % init.rooms.length : -1,
        ws: null,
        ready: false,
        lastSeq: 0,
        ackSeq: 0,
      });
    }
    this.timer = setInterval(() => this.tick(), init.reportIntervalMs);
  }

  private error(kind: string): void {
    this.errors[kind] = (this.errors[kind] ?? 0) + 1;
  }

  tick(): void {
    const t: Tick = {
      type: 'tick',
      workerId: this.init.workerId,
      open: this.open,
      deliveries: this.deliveries,
      duplicates: this.duplicates,
      hist: this.hist.totalCount > 0 ? encodeHistogram(this.hist) : null,
      errors: this.errors,
      completed: this.completed,
    };
    this.deliveries = 0;
    this.duplicates = 0;
    this.errors = {};
    if (this.hist.totalCount > 0) this.hist.reset();
    send(t);
  }

  async connectAll(): Promise<void> {
    const firstStartUs = nowUs();
    let lastReadyUs = firstStartUs;
    let ok = 0;
    const failedUsers: number[] = [];
    const connectHist = createHistogram();
    let next = 0;
    const runOne = async (): Promise<void> => {
      while (next < this.conns.length && !this.stopping) {
        const c = this.conns[next++] as Conn;
        const t0 = nowUs();
        const err = await this.connectOne(c);
        if (err === null) {
          ok++;
          lastReadyUs = nowUs();
          connectHist.recordValue(Math.max(1, lastReadyUs - t0));
        } else {
          failedUsers.push(c.index);
          this.error(err);
        }
      }
    };
    const lanes = Math.max(1, Math.min(this.init.connectConcurrency, this.conns.length));
    await Promise.all(Array.from({ length: lanes }, runOne));
    const m: Connected = {
      type: 'connected',
      workerId: this.init.workerId,
      ok,
      failed: failedUsers.length,
      failedUsers,
      firstStartUs,
      lastReadyUs,
      connectHist: connectHist.totalCount > 0 ? encodeHistogram(connectHist) : null,
    };
    send(m);
  }

  /** Opens, authenticates and joins one connection; resolves null on success or an error kind. */
  private connectOne(c: Conn): Promise<string | null> {
    return new Promise((resolve) => {
      const addr = this.init.addresses[c.index % this.init.addresses.length];
      const ws = new WebSocket(this.proto.url(connectBaseFor(this.init, c.index), c.user, 'd0', c.token), {
        perMessageDeflate: false,
        // Loopback from a trusted server: skip per-frame UTF-8 validation to keep client cost low.
        skipUTF8Validation: true,
        handshakeTimeout: this.init.handshakeTimeoutMs,
        ...(addr ? { localAddress: addr } : {}),
      });
      c.ws = ws;
      let settled = false;
      const joinId = String(c.index + 1);
      const finish = (err: string | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        if (err === null) {
          c.ready = true;
          this.open++;
          if (c.room >= 0) this.joinedByRoom[c.room] = (this.joinedByRoom[c.room] ?? 0) + 1;
        } else {
          ws.terminate();
        }
        resolve(err);
      };
      const deadline = setTimeout(() => finish('handshake_timeout'), this.init.handshakeTimeoutMs);
      const sendFrame = (f: string): void => {
        if (ws.readyState === WebSocket.OPEN) ws.send(f);
      };
      ws.on('message', (raw, isBinary) => {
        if (isBinary) return;
        const text = raw.toString();
        if (settled) {
          const p = peekDelivery(text, this.proto.peekKind);
          if (p !== null) {
            this.onDelivery(c, p.t, p.k, p.r, p.seq);
            return;
          }
        }
        const inbound = this.proto.decode(text, sendFrame, c.token);
        if (settled) {
          this.onInbound(c, inbound);
          return;
        }
        switch (inbound.kind) {
          case 'ready':
            if (c.room >= 0) sendFrame(this.proto.join(this.init.rooms[c.room] as string, joinId));
            else finish(null);
            break;
          case 'reply':
            if (inbound.id === joinId) finish(inbound.ok ? null : `join_failed_${inbound.error ?? 'unknown'}`);
            break;
          case 'rejected':
            finish(`rejected_${inbound.reason}`);
            break;
          case 'message':
            // Deliveries before the join completes are still deliveries.
            this.onInbound(c, inbound);
            break;
          default:
            break;
        }
      });
      ws.on('unexpected-response', (_req, res) => {
        finish(`http_${res.statusCode ?? 0}`);
      });
      ws.on('error', (e: NodeJS.ErrnoException) => {
        finish(`connect_${e.code ?? 'error'}`);
      });
      ws.on('close', (code) => {
        if (!settled) {
          finish(`closed_during_handshake_${code}`);
          return;
        }
        if (c.ready) {
          c.ready = false;
          this.open--;
          if (c.room >= 0) {
            this.joinedByRoom[c.room] = (this.joinedByRoom[c.room] ?? 1) - 1;
            this.advanceCompleted();
          }
          if (!this.stopping) this.error(`close_${code}`);
        }
      });
    });
  }

  private onInbound(c: Conn, m: Inbound): void {
    if (m.kind === 'message') {
      const d = m.data;
      if (!isBenchPayload(d)) {
        if (m.seq !== undefined) this.onSeq(c, m.seq);
        if (this.measuring) this.error('foreign_payload');
        return;
      }
      this.onDelivery(c, d.t, d.k, d.r, m.seq);
    } else if (m.kind === 'rejected') {
      this.error(m.reason);
    }
  }

  /** Returns false for a resend of a reliable message already seen. */
  private onSeq(c: Conn, seq: number): boolean {
    if (seq <= c.lastSeq) {
      // Ack lost or late: re-ack, but it is not a new delivery.
      this.queueAck(c, c.lastSeq);
      return false;
    }
    c.lastSeq = seq;
    this.queueAck(c, seq);
    return true;
  }

  private onDelivery(c: Conn, t: number, k: number, r: number, seq: number | undefined): void {
    if (seq !== undefined && !this.onSeq(c, seq)) {
      if (this.measuring) this.duplicates++;
      return;
    }
    if (!this.measuring) return;
    this.deliveries++;
    this.hist.recordValue(Math.max(1, nowUs() - t));
    if (r >= 0) this.onBroadcastReceipt(k, r);
  }

  /** Acks are coalesced per connection and flushed once per event-loop turn (cumulative acks make that lossless). */
  private queueAck(c: Conn, seq: number): void {
    if (!this.proto.ack) return;
    if (c.ackSeq === 0) this.ackQueue.push(c);
    c.ackSeq = Math.max(c.ackSeq, seq);
    if (!this.ackScheduled) {
      this.ackScheduled = true;
      setImmediate(() => this.flushAcks());
    }
  }

  private flushAcks(): void {
    this.ackScheduled = false;
    const q = this.ackQueue;
    this.ackQueue = [];
    for (const c of q) {
      if (c.ws && c.ws.readyState === WebSocket.OPEN && this.proto.ack) c.ws.send(this.proto.ack(c.ackSeq));
      c.ackSeq = 0;
    }
  }

  /** Broadcasts the server refused: nobody will receive them. */
  private readonly skipped = new Set<number>();

  skip(k: number): void {
    if (k < this.completed) return;
    this.skipped.add(k);
    if (k > this.maxK) this.maxK = k;
    this.advanceCompleted();
  }

  private onBroadcastReceipt(k: number, _r: number): void {
    if (k < this.completed) return;
    this.receipts.set(k, (this.receipts.get(k) ?? 0) + 1);
    if (k > this.maxK) this.maxK = k;
    this.advanceCompleted();
  }

  /** Moves `completed` over every broadcast all joined connections of its room have received. */
  private advanceCompleted(): void {
    const roomsN = this.init.rooms.length;
    if (roomsN === 0) return;
    const before = this.completed;
    while (this.completed <= this.maxK) {
      const k = this.completed;
      const need = this.joinedByRoom[k % roomsN] ?? 0;
      if (!this.skipped.delete(k) && (this.receipts.get(k) ?? 0) < need) break;
      this.receipts.delete(k);
      this.completed++;
    }
    if (this.completed !== before && !this.completedScheduled) {
      this.completedScheduled = true;
      setImmediate(() => {
        this.completedScheduled = false;
        send({ type: 'completed', workerId: this.init.workerId, completed: this.completed });
      });
    }
  }

  measure(): void {
    this.measuring = true;
    this.deliveries = 0;
    this.duplicates = 0;
    this.hist.reset();
    this.receipts.clear();
    this.skipped.clear();
    this.completed = 0;
    this.maxK = -1;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.tick();
    // Close gracefully so the server ends the TCP connection first and keeps
    // the TIME_WAIT state, not our bound source ports; terminate stragglers.
    await new Promise<void>((resolve) => {
      let pending = 0;
      const done = (): void => {
        if (--pending === 0) resolve();
      };
      for (const c of this.conns) {
        const ws = c.ws;
        if (!ws || ws.readyState === WebSocket.CLOSED) continue;
        pending++;
        ws.once('close', done);
        if (ws.readyState === WebSocket.OPEN) ws.close(1000);
        else ws.terminate();
      }
      if (pending === 0) resolve();
      setTimeout(() => {
        for (const c of this.conns) c.ws?.terminate();
        resolve();
      }, 2000).unref();
    });
  }
}

let worker: ClientWorker | null = null;
let workerId = -1;

process.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'init':
      workerId = m.workerId;
      worker = new ClientWorker(m);
      send({ type: 'ready', workerId: m.workerId });
      break;
    case 'connect':
      void worker?.connectAll();
      break;
    case 'measure':
      // Reply with a (reset) tick so the orchestrator knows counting has started before it publishes.
      worker?.measure();
      worker?.tick();
      break;
    case 'skip':
      worker?.skip(m.k);
      break;
    case 'flush':
      worker?.tick();
      break;
    case 'stop':
      void (worker ? worker.stop() : Promise.resolve()).then(() => {
        send({ type: 'stopped', workerId });
        process.disconnect?.();
        setTimeout(() => process.exit(0), 50).unref();
      });
      break;
  }
});

// Orphaned (orchestrator died): leave rather than hold thousands of sockets.
process.on('disconnect', () => process.exit(0));
