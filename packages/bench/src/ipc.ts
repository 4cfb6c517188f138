/** Messages between the orchestrator and client processes (node IPC, JSON). */
import type { TargetKind } from './targets/types.js';

export interface WorkerInit {
  type: 'init';
  workerId: number;
  target: TargetKind;
  httpBase: string;
  /** Several server nodes: connection i goes to connectBases[i % length] (round-robin by user index). Absent: httpBase. */
  connectBases?: string[];
  secret: string;
  /** First user index and count: this worker owns users u<first>..u<first+count-1>. */
  first: number;
  count: number;
  /** Rooms to join, as room names; connection i joins rooms[i % rooms.length]. Empty: join nothing. */
  rooms: string[];
  /** Source addresses, assigned round-robin by user index. */
  addresses: string[];
  /** Handshakes in flight at once in this worker. */
  connectConcurrency: number;
  /** Per-connection handshake+auth+join deadline. */
  handshakeTimeoutMs: number;
  /** Period of progress reports. */
  reportIntervalMs: number;
  /** Token lifetime. */
  tokenTtlSec: number;
}

export type ToWorker =
  | WorkerInit
  | { type: 'connect' }
  /** Start counting deliveries (drops anything counted before). */
  | { type: 'measure' }
  /** Broadcast k was not accepted by the server: count it as complete, or the window would wait for it forever. */
  | { type: 'skip'; k: number }
  /** Send a tick now (the orchestrator wants exact counts). */
  | { type: 'flush' }
  | { type: 'stop' };

export interface Tick {
  type: 'tick';
  workerId: number;
  /** Open, authenticated connections right now. */
  open: number;
  /** Deliveries since the previous tick (first delivery of each message only). */
  deliveries: number;
  duplicates: number;
  /** Compressed HDR histogram of latencies (µs) since the previous tick, or null if none. */
  hist: string | null;
  /** Error counts by kind since the previous tick. */
  errors: Record<string, number>;
  /** Broadcast index up to which (exclusive) every joined connection of this worker has the message. */
  completed: number;
}

export interface Connected {
  type: 'connected';
  workerId: number;
  ok: number;
  failed: number;
  /** Users whose connection failed (the publisher skips them). */
  failedUsers: number[];
  /** Shared-clock µs of the first attempt and the last completed handshake. */
  firstStartUs: number;
  lastReadyUs: number;
  /** Compressed histogram of connect latencies (µs): TCP+upgrade+auth+join. */
  connectHist: string | null;
}

export interface Stopped {
  type: 'stopped';
  workerId: number;
}

/** Sent as soon as `completed` advances (coalesced per event-loop turn): drives the broadcast window. */
export interface Completed {
  type: 'completed';
  workerId: number;
  completed: number;
}

export type FromWorker = Tick | Connected | Stopped | Completed | { type: 'ready'; workerId: number };

/** The node a connection goes to: round-robin over `connectBases` by user index, else the one `httpBase`. */
export function connectBaseFor(init: Pick<WorkerInit, 'httpBase' | 'connectBases'>, index: number): string {
  const b = init.connectBases;
  return b && b.length > 0 ? (b[index % b.length] as string) : init.httpBase;
}
