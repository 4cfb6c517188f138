/**
 * Where a device's reliable stream starts on connect (DESIGN.md §2,
 * docs/delivery.md "Start point"):
 *   1. `last_seq` from the client, else the device's stored cursor;
 *   2. a device never seen before (no cursor):
 *      - the user's first device ever (no device has a cursor): the oldest retained message;
 *      - otherwise per `newDeviceStart`: `unacked` — after the newest message any
 *        device acked (the oldest message no device has acked comes first);
 *        `oldest` — the oldest retained message; `tip` — only new messages;
 *      - never after a retained message targeted at this device: the start
 *        moves back so every such message is delivered.
 * The result is clamped to the inbox: ahead of the tip or below the retention
 * floor means messages were lost or seqs are void, and `recovered` says so.
 *
 * The one resume function: a connect (`last_seq` or the stored cursor) and a
 * `sync` frame (`requested` = its `after`) both start where this says.
 */
import type { InboxStore, Retention } from '../engine/types.js';

export type NewDeviceStart = 'tip' | 'unacked' | 'oldest';

export interface StartPointInput {
  tenant: string;
  user: string;
  device: string;
  /** `last_seq` from the client, when it sent one. */
  requested: number | undefined;
  retention: Retention;
  newDeviceStart: NewDeviceStart;
  /**
   * Read the stored cursor even when the client sent `requested` (a connect through an engine that
   * reads it in the same round trip anyway): `known` then says whether storing `start` would move it.
   */
  readCursor?: boolean;
}

export interface StartPoint {
  /** Replay starts after this seq. */
  start: number;
  /** False when the client's position could not be honoured (messages lost or seqs void). */
  recovered: boolean;
  /**
   * True when the stored cursor needs no write: the device had one and — when it was read although
   * the client sent its position (`readCursor`) — it is not behind `start`. Else the caller stores
   * `start` (forward only).
   */
  known: boolean;
}

export async function resolveStartPoint(engine: InboxStore, i: StartPointInput): Promise<StartPoint> {
  const [stored, head] = await Promise.all([
    i.requested === undefined || i.readCursor ? engine.getCursor(i.tenant, i.user, i.device) : undefined,
    engine.readAfter(i.tenant, i.user, Number.MAX_SAFE_INTEGER, 0, i.retention),
  ]);
  const position = i.requested ?? stored;
  if (position !== undefined) {
    // Storing `start` (forward only) would leave a cursor read with the client's position as it is.
    const known = (start: number): boolean => stored !== undefined && (i.requested === undefined || stored >= start);
    if (position > head.tip) return { start: head.tip, recovered: false, known: known(head.tip) }; // e.g. the memory engine restarted: its seqs are void
    if (position < head.floor) return { start: head.floor, recovered: false, known: known(head.floor) }; // retention dropped messages after it
    return { start: position, recovered: true, known: known(position) };
  }
  // A device never seen before: nothing was lost, whatever the rule picks.
  const devices = await engine.deviceCursors(i.tenant, i.user);
  let start: number;
  if (devices.count === 0 || i.newDeviceStart === 'oldest') start = head.floor;
  else if (i.newDeviceStart === 'unacked') start = Math.min(head.tip, Math.max(head.floor, devices.max));
  else start = head.tip;
  if (start > head.floor) {
    // Messages addressed to this very device are never skipped.
    const first = await engine.firstForDevice(i.tenant, i.user, i.device, head.floor, start);
    if (first !== undefined) start = first - 1;
  }
  return { start, recovered: true, known: false };
}
