/**
 * Room history recovery, awareness state and binary payloads on the client
 * side (docs/client.md, "Rooms with history").
 *
 * A room joined with `{recover:true}` remembers the newest offset seen and
 * the room's epoch; every re-join after a reconnect sends them as `since`,
 * so the server replays what was missed before live messages. Messages at or
 * below the remembered offset (a replay overlapping a live message) are
 * dropped here, so the app sees each offset once, in order.
 */
import { decodeBase64, encodeBase64, type MessageFrame, type ReplyFrame } from '@herald/protocol';

export interface RoomPosition {
  offset: number;
  epoch: string;
}

export class RoomPositions {
  /** Rooms joined with recovery; null until the first reply told the position. */
  readonly #rooms = new Map<string, RoomPosition | null>();

  enable(room: string): void {
    if (!this.#rooms.has(room)) this.#rooms.set(room, null);
  }

  disable(room: string): void {
    this.#rooms.delete(room);
  }

  /** The position for this room's next join. */
  get(room: string): RoomPosition | undefined {
    return this.#rooms.get(room) ?? undefined;
  }

  /** A join reply: from here on the room's position is the reply's (the replay that follows moves it on). */
  onJoinReply(room: string, reply: ReplyFrame, asked: RoomPosition | undefined): void {
    if (!this.#rooms.has(room)) return;
    const offset = reply.offset;
    const epoch = reply.epoch;
    if (typeof offset !== 'number' || typeof epoch !== 'string') return;
    // Recovered: the replay brings the room from `asked` to `offset`; keep `asked` until it does.
    this.#rooms.set(room, reply.recovered === true && asked ? asked : { offset, epoch });
  }

  /** A room message: false when it was already seen (offset at or below the position). */
  accept(room: string, offset: number): boolean {
    const p = this.#rooms.get(room);
    if (p === undefined) return true;
    if (p === null) return true;
    if (offset <= p.offset) return false;
    p.offset = offset;
    return true;
  }
}

/** A message with `data_b64` gets its bytes as `data` (a Uint8Array); others are returned as they are. */
export function withBytes<T extends MessageFrame>(frame: T): T {
  if (typeof frame.data_b64 !== 'string') return frame;
  const { data_b64: b64, ...rest } = frame;
  try {
    return { ...rest, data: decodeBase64(b64) } as T;
  } catch {
    return frame;
  }
}

/** The publish frame's payload field: bytes go as `data_b64` (raw bytes on the binary protocol). */
export function payloadField(data: unknown): { data: unknown } | { data_b64: string } {
  return data instanceof Uint8Array ? { data_b64: encodeBase64(data) } : { data };
}

/** A `history` reply's messages, bytes decoded. */
export function historyMessages(reply: ReplyFrame): MessageFrame[] {
  const list = Array.isArray(reply.messages) ? (reply.messages as MessageFrame[]) : [];
  return list.map(withBytes);
}
