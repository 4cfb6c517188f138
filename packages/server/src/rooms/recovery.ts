/**
 * Join replies, recovery and history reads of rooms with history.
 *
 * A join reply carries the room's `offset` and `epoch`. A join with `since`
 * holds the room's live frames for the session (delivery/roomHolds.ts),
 * reads what it missed, and answers: the reply, then the missed messages in
 * offset order, then the held live ones above them. `recovered` is true only
 * when the epoch is the room's and every message after `since` is still
 * held; else the client is told `recovered:false` (never a silent gap) and
 * gets only live messages.
 */
import type { DeliveryHub } from '../delivery/hub.js';
import { EncodedFrame } from '../protocol/encodedFrame.js';
import { frameOffset } from '../delivery/roomHolds.js';
import type { DeliverySession } from '../delivery/session.js';
import type { RoomHistoryRange, RoomHistoryStore } from '../engine/types.js';
import type { HistoryPolicies } from './historyPolicy.js';

export type JoinAnswer = { offset: number; epoch: string; recovered?: boolean } | Record<string, never>;

export class RoomRecovery {
  constructor(
    private readonly hub: DeliveryHub,
    private readonly store: RoomHistoryStore,
    private readonly policies: HistoryPolicies,
  ) {}

  /** True when the room keeps history (joins then answer asynchronously). */
  hasHistory(room: string): boolean {
    return !this.policies.off && this.policies.of(room).size > 0;
  }

  /**
   * Must be called in the same tick as the registry join, before any frame of the
   * room can reach the session: from then on live frames are held until `answer`.
   */
  holdIfRecovering(s: DeliverySession, room: string, since: unknown): void {
    if (since !== undefined) this.hub.roomHolds.hold(s, room);
  }

  /**
   * Reads the room's position (and what `since` missed), sends `reply(fields)`
   * then the replay and the held frames. On a store failure the hold is
   * dropped and the error passed on.
   */
  async answer(
    s: DeliverySession,
    tenant: string,
    room: string,
    since: { offset: number; epoch: string } | undefined,
    reply: (fields: JoinAnswer) => void,
    subscribed?: Promise<void> | void,
  ): Promise<void> {
    const policy = this.policies.of(room);
    let range: RoomHistoryRange;
    try {
      // Read only once the room's channel reaches this node: a message stored after the read is then
      // surely delivered live (held), so the replay and the live stream meet with no gap.
      await subscribed;
      range = await this.store.read(tenant, room, since?.offset ?? 0, since ? policy.size : 0, policy);
    } catch (err) {
      this.hub.roomHolds.clear(s, room);
      throw err;
    }
    if (!since) {
      reply({ offset: range.offset, epoch: range.epoch });
      return;
    }
    const recoverable = since.epoch === range.epoch && since.offset >= range.floor && since.offset <= range.offset;
    const held = this.hub.roomHolds.release(s, room, range.offset);
    if (s.state !== 'active' || !s.rooms?.has(room)) {
      this.hub.roomHolds.clear(s, room);
      return;
    }
    const recovered = recoverable && !held.overflow;
    reply({ offset: range.offset, epoch: range.epoch, recovered });
    let last = recovered ? since.offset : range.offset;
    if (recovered) {
      for (const m of range.messages) {
        if (m.offset <= last) continue;
        s.send(EncodedFrame.ofText(m.frame));
        last = m.offset;
      }
    }
    for (const text of held.frames) {
      const offset = frameOffset(text);
      if (offset !== undefined) {
        if (offset <= last) continue;
        last = offset;
      }
      s.send(EncodedFrame.ofText(text));
    }
    if (last > range.offset) this.hub.roomHolds.raise(s, room, last);
  }

  /** The newest `limit` messages, oldest first, as the frames clients received. */
  async history(tenant: string, room: string, limit: number): Promise<string[]> {
    const policy = this.policies.of(room);
    if (this.policies.off || policy.size === 0) return [];
    const r = await this.store.read(tenant, room, undefined, limit, policy);
    return r.messages.map((m) => m.frame);
  }
}
