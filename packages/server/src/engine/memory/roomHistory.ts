/**
 * Room history in this process (the memory engine).
 *
 * Bounds: per room, at most `policy.size` messages younger than
 * `policy.ttlMs`; in total, `maxTotalBytes` of accounted bytes (frame text
 * plus a fixed overhead per message) over every room. Over the total bound
 * the least recently published rooms are dropped whole — their epoch goes
 * with them, so a reader that had them is told `recovered:false`, never
 * handed a gap. A room with no publish for its ttl is dropped the same way.
 *
 * Epochs are random per room record: a restart (new process) or a dropped
 * room makes a new one.
 */
import { randomBytes } from 'node:crypto';
import type { RoomHistoryMessage, RoomHistoryPolicy, RoomHistoryRange, RoomHistoryStore, RoomPosition } from '../types.js';

/** Accounted per message besides its frame text: the record, the array slot, the number. */
const MESSAGE_OVERHEAD = 96;

interface RoomRecord {
  epoch: string;
  /** Newest offset assigned. */
  top: number;
  /** Highest offset dropped. */
  floor: number;
  messages: (RoomHistoryMessage & { ts: number; bytes: number })[];
  /** Index of the first held message in `messages` (dropping the head is O(1), compacted now and then). */
  head: number;
  bytes: number;
  lastWrite: number;
  /** The room's ttl as last seen (the sweep has no config of its own). */
  ttlMs: number;
}

export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

export class MemoryRoomHistory implements RoomHistoryStore {
  readonly selfDelivers = false;
  /** Insertion order is recency of publish: the first rooms are the first to go over the total bound. */
  private readonly rooms = new Map<string, RoomRecord>();
  private total = 0;

  constructor(private readonly maxTotalBytes: number) {}

  async append(tenant: string, room: string, frameHead: string, frameTail: string, policy: RoomHistoryPolicy): Promise<RoomPosition> {
    return this.appendNow(tenant, room, frameHead, frameTail, policy);
  }

  /** Synchronous: offsets are assigned and frames delivered in call order. */
  appendNow(tenant: string, room: string, frameHead: string, frameTail: string, policy: RoomHistoryPolicy, now = Date.now()): RoomPosition {
    const key = tenant + '\u0000' + room;
    const r = this.live(key, policy, now) ?? this.create(key, now, policy.ttlMs);
    this.rooms.delete(key);
    this.rooms.set(key, r); // most recent last
    const offset = ++r.top;
    const frame = frameHead + offset + frameTail;
    const bytes = frame.length * 2 + MESSAGE_OVERHEAD;
    r.messages.push({ offset, frame, ts: now, bytes });
    r.bytes += bytes;
    this.total += bytes;
    r.lastWrite = now;
    this.trim(r, policy, now);
    if (this.maxTotalBytes > 0) {
      for (const [k, other] of this.rooms) {
        if (this.total <= this.maxTotalBytes || other === r) break;
        this.drop(k, other);
      }
    }
    return { offset, epoch: r.epoch };
  }

  async read(tenant: string, room: string, after: number | undefined, limit: number, policy: RoomHistoryPolicy): Promise<RoomHistoryRange> {
    const key = tenant + '\u0000' + room;
    const now = Date.now();
    const r = this.live(key, policy, now) ?? this.create(key, now, policy.ttlMs);
    this.trim(r, policy, now);
    const held = r.messages.slice(r.head);
    const from = after === undefined ? Math.max(0, held.length - limit) : held.findIndex((m) => m.offset > after);
    const picked = from < 0 ? [] : held.slice(from, from + limit);
    return { offset: r.top, epoch: r.epoch, floor: r.floor, messages: picked.map((m) => ({ offset: m.offset, frame: m.frame })) };
  }

  /** Accounted bytes of all rooms (what maxTotalBytes bounds). */
  bytes(): number {
    return this.total;
  }

  /** Rooms with a history record. */
  roomCount(): number {
    return this.rooms.size;
  }

  /** Drops rooms whose last publish is older than their ttl (the engine's housekeeping timer). */
  sweep(now = Date.now()): void {
    for (const [k, r] of this.rooms) if (now - r.lastWrite > r.ttlMs) this.drop(k, r);
  }

  /** The room's record, unless its whole history aged out (then it is dropped: a new epoch follows). */
  private live(key: string, policy: RoomHistoryPolicy, now: number): RoomRecord | undefined {
    const r = this.rooms.get(key);
    if (r && now - r.lastWrite > policy.ttlMs) {
      this.drop(key, r);
      return undefined;
    }
    if (r) r.ttlMs = policy.ttlMs;
    return r;
  }

  private create(key: string, now: number, ttlMs: number): RoomRecord {
    const r: RoomRecord = { epoch: newEpoch(), top: 0, floor: 0, messages: [], head: 0, bytes: 0, lastWrite: now, ttlMs };
    this.rooms.set(key, r);
    return r;
  }

  private drop(key: string, r: RoomRecord): void {
    this.total -= r.bytes;
    this.rooms.delete(key);
  }

  /** Drops the head by count and age. */
  private trim(r: RoomRecord, policy: RoomHistoryPolicy, now: number): void {
    const oldest = now - policy.ttlMs;
    while (r.head < r.messages.length) {
      const m = r.messages[r.head]!;
      if (r.messages.length - r.head <= policy.size && m.ts >= oldest) break;
      r.floor = m.offset;
      r.bytes -= m.bytes;
      this.total -= m.bytes;
      r.head++;
    }
    if (r.head > 64 && r.head * 2 > r.messages.length) {
      r.messages = r.messages.slice(r.head);
      r.head = 0;
    }
  }
}
