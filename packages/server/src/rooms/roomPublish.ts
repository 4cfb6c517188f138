/**
 * A room message, from a client or from the API/ingest: without history it
 * is broadcast as before; with history the store assigns its offset and keeps
 * it first, then it is delivered — by this node (memory engine), or by the
 * store's own publish, to every node alike (Redis: one order for all).
 */
import type { DeliveryHub } from '../delivery/hub.js';
import type { RoomHistoryStore, Route } from '../engine/types.js';
import { messageFrame, type EphemeralMessage } from '../protocol/serverFrames.js';
import type { HistoryPolicies } from './historyPolicy.js';

const FRAME_START = '{"type":"message"';
export const OFFSET_HEAD = FRAME_START + ',"offset":';

export interface RoomPublished {
  /** Sessions on this node written to (0 when the store delivers). */
  local: number;
  offset?: number;
  epoch?: string;
}

export class RoomPublisher {
  constructor(
    private readonly hub: DeliveryHub,
    private readonly store: RoomHistoryStore,
    readonly policies: HistoryPolicies,
  ) {}

  async publish(route: Extract<Route, { kind: 'room' }>, m: Omit<EphemeralMessage, 'room'>): Promise<RoomPublished> {
    const frame = messageFrame(withRoom(m, route.room));
    const policy = this.policies.off ? undefined : this.policies.of(route.room);
    // A platform-targeted room message is not for every member: it stays out of history (no offset).
    if (!policy || policy.size === 0 || route.platform !== undefined) return { local: await this.hub.broadcast(route, frame, m.ts) };
    // The offset goes first in the frame, so that the store can splice it in and holds can read it cheaply.
    const tail = frame.slice(FRAME_START.length);
    const pos = await this.store.append(route.tenant, route.room, OFFSET_HEAD, tail, policy);
    const local = this.store.selfDelivers ? 0 : this.hub.deliverLocal(route, OFFSET_HEAD + pos.offset + tail, m.ts);
    return { local, offset: pos.offset, epoch: pos.epoch };
  }
}

/**
 * `m` with its room, built field by field in one order: `{ ...m, room }` made a new hidden class
 * for every message (V8 11, Node 20), so messageFrame's reads of it missed their inline caches
 * (the same finding as engine/inboxMessage.ts `withSeq`, issue 20).
 */
export function withRoom(m: Omit<EphemeralMessage, 'room'>, room: string): EphemeralMessage {
  const r: EphemeralMessage = { id: m.id, ts: m.ts, data: m.data, room };
  if (m.event !== undefined) r.event = m.event;
  if (m.from !== undefined) r.from = m.from;
  if (m.binary !== undefined) r.binary = m.binary;
  return r;
}
