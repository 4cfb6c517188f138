/** The room history capability of an engine (docs/rooms.md): its types, apart from engine/types.ts for size. */

/** How much history a room keeps (rooms/historyPolicy.ts resolves it per room). */
export interface RoomHistoryPolicy {
  /** Messages kept; 0: no history (never passed to the store). */
  size: number;
  ttlMs: number;
}

/** A room message as history holds it. */
export interface RoomHistoryMessage {
  offset: number;
  /** The message frame text, offset included: replayed exactly as it was delivered live. */
  frame: string;
}

/** A room's history position: its newest offset (0 when none) and its epoch. */
export interface RoomPosition {
  offset: number;
  epoch: string;
}

export interface RoomHistoryRange extends RoomPosition {
  /** Messages in offset order. */
  messages: RoomHistoryMessage[];
  /** Highest offset no longer held (dropped by size, age or the total bound); 0 when none. */
  floor: number;
}

/**
 * Per-room history with offsets and an epoch that changes whenever the
 * room's history is lost. `append` assigns the next offset, stores the frame
 * `head + offset + tail` and (atomically, where the engine transports)
 * publishes it to the room's channel.
 */
export interface RoomHistoryStore {
  /**
   * True when the transport brings appended messages back to this node too
   * (the caller must not deliver them locally): every node then sees one room
   * in one order, the store's.
   */
  readonly selfDelivers: boolean;
  append(tenant: string, room: string, frameHead: string, frameTail: string, policy: RoomHistoryPolicy): Promise<RoomPosition>;
  /** Messages with offset > `after` (all held when undefined: then the newest `limit`), at most `limit`, oldest first. */
  read(tenant: string, room: string, after: number | undefined, limit: number, policy: RoomHistoryPolicy): Promise<RoomHistoryRange>;
}
