/** What a connect reads and writes through an engine across a network in one round trip (issue 20): apart from engine/types.ts for size. */
import type { BusEvent, DevicePresence, InboxStore, Retention } from './types.js';

/** What a connecting device needs read (gateway/activation.ts). */
export interface ConnectReadsQuery {
  tenant: string;
  user: string;
  device: string;
  /**
   * The device's stored cursor is needed (and, when it has none, the user's device cursors): the
   * client sent no `last_seq`, or the caller wants to know whether its position must be stored.
   */
  cursor: boolean;
  /** The per-user connection limit is on: the user's devices online in the cluster are needed. */
  presence: boolean;
  retention: Retention;
}

export interface ConnectReads {
  /**
   * Answers the start-point reads (delivery/startPoint.ts) of this device from what was read: the
   * inbox head, its cursor, the device cursors. Anything else goes to the engine.
   */
  inbox: InboxStore;
  /** The user's devices online in the cluster, when asked for. */
  presence: DevicePresence[] | undefined;
}

/**
 * An admitted connect's writes and first replay read (Engine.connectStart, gateway/activation.ts):
 * what presenceAdd(presence, announce, publish) and — for a device without a stored cursor —
 * setCursor(…, cursor) write, and the first read of the device's reliable stream, sent together.
 * The engine calls `stream.begin()` before it returns: the first readAfter of this user after
 * `replay.after` with at most `replay.limit` messages that begin() makes is answered by that read
 * (any other read goes to the inbox as usual). Resolves as presenceAdd does.
 */
export interface ConnectStart {
  presence: DevicePresence;
  announce: boolean;
  publish: BusEvent;
  /** The device had no stored cursor: its start point, stored (forward only) with the record. */
  cursor: number | undefined;
  replay: { after: number; limit: number; retention: Retention };
}
