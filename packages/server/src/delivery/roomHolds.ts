/**
 * Room recovery without gap or reordering (a join with `since`): while the
 * session's missed messages are read from history, live frames of that room
 * are held for it instead of written; after the replay, the held frames go
 * out, skipping offsets already replayed, and a watermark keeps dropping
 * frames at or below the replayed offset until the first one above it passes
 * (a frame published before the read may reach this node after it).
 *
 * Bounded: at most `maxHeld` frames per hold; beyond it frames are dropped
 * and the hold reports an overflow (the join then says `recovered:false`).
 */
import type { DeliverySession } from './session.js';

interface Hold {
  /** Frame texts held while the replay is read; undefined once released. */
  frames: string[] | undefined;
  overflow: boolean;
  watermark: number;
}

const OFFSET_PREFIX = '{"type":"message","offset":';

/** The offset of a room message frame, or undefined for other frames (events, states). */
export function frameOffset(text: string): number | undefined {
  if (!text.startsWith(OFFSET_PREFIX)) return undefined;
  const n = parseInt(text.slice(OFFSET_PREFIX.length, OFFSET_PREFIX.length + 20), 10);
  return Number.isSafeInteger(n) ? n : undefined;
}

export class RoomHolds {
  private readonly holds = new Map<DeliverySession, Map<string, Hold>>();

  constructor(private readonly maxHeld = 10_000) {}

  get empty(): boolean {
    return this.holds.size === 0;
  }

  /** Starts holding live frames of `room` for `s`. */
  hold(s: DeliverySession, room: string): void {
    let rooms = this.holds.get(s);
    if (!rooms) this.holds.set(s, (rooms = new Map()));
    rooms.set(room, { frames: [], overflow: false, watermark: 0 });
  }

  /** True when the frame was taken (held, or dropped as already replayed): the caller must not write it. */
  take(s: DeliverySession, room: string, text: string): boolean {
    const h = this.holds.get(s)?.get(room);
    if (!h) return false;
    if (h.frames) {
      if (h.frames.length < this.maxHeld) h.frames.push(text);
      else h.overflow = true;
      return true;
    }
    const offset = frameOffset(text);
    if (offset === undefined) return false;
    if (offset <= h.watermark) return true;
    this.clear(s, room);
    return false;
  }

  /** Stops holding: the held frames (to be written by the caller) and whether some were dropped. Keeps a watermark filter at `watermark`. */
  release(s: DeliverySession, room: string, watermark: number): { frames: string[]; overflow: boolean } {
    const h = this.holds.get(s)?.get(room);
    if (!h || !h.frames) return { frames: [], overflow: false };
    const out = { frames: h.frames, overflow: h.overflow };
    h.frames = undefined;
    h.watermark = watermark;
    return out;
  }

  /** Raises a released hold's watermark (frames written after the replay went beyond it). */
  raise(s: DeliverySession, room: string, watermark: number): void {
    const h = this.holds.get(s)?.get(room);
    if (h && !h.frames && watermark > h.watermark) h.watermark = watermark;
  }

  clear(s: DeliverySession, room: string): void {
    const rooms = this.holds.get(s);
    if (rooms?.delete(room) && rooms.size === 0) this.holds.delete(s);
  }

  clearSession(s: DeliverySession): void {
    this.holds.delete(s);
  }
}
