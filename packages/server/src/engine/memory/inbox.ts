/**
 * In-memory per-user inbox: an append-only array with a moving head, trimmed
 * by count and age. Seq counters outlive trimmed messages so a user's seq
 * never restarts while the process lives.
 *
 * Memory: a dropped message's slot is cleared at once (so its body can be
 * collected immediately); only the array itself is compacted lazily, which
 * keeps trimming amortised O(1). Every message is accounted in bytes so the
 * store can refuse appends past a global bound (memoryMaxStoredBytes).
 */
// The module's binding, not the global: Node's global `Buffer` is an accessor, so each
// `Buffer.byteLength` below (once per reliable message) was a global load IC and a getter call.
import { Buffer } from 'node:buffer';
import type { InboxMessage, InboxRange, NewInboxMessage, Retention } from '../types.js';
import { withSeq } from '../inboxMessage.js';
import { decodePayload, PLAIN_CODEC, type PayloadCodec, type PayloadFlag } from '../payloadCodec.js';

/**
 * A held message whose data may be compressed (`z` names the codec; engine/payloadCodec.ts).
 * `b`: its accounted bytes, fixed at append. The bound (memoryMaxStoredBytes) counts a message as
 * it was published, compressed or not, so it stays predictable from what producers send;
 * compression lowers the real memory below it.
 */
type Held = InboxMessage & { z?: PayloadFlag; b?: number };

/** The message as readers see it: data decompressed, no flag. */
function plain(m: Held): InboxMessage {
  if (m.z === undefined) return m;
  return withSeq(m, m.seq, decodePayload(m.data, m.z));
}

/** Rough per-message cost beyond its strings (object, array slot, numbers). */
const MESSAGE_OVERHEAD_BYTES = 96;

/** Accounted size of one stored message: UTF-8 bytes of its strings plus a fixed overhead. */
export function messageBytes(m: NewInboxMessage): number {
  let n = MESSAGE_OVERHEAD_BYTES + Buffer.byteLength(m.data) + m.id.length;
  if (m.event !== undefined) n += Buffer.byteLength(m.event);
  if (m.device !== undefined) n += m.device.length;
  if (m.platform !== undefined) n += m.platform.length;
  return n;
}

/** Raised when an append would take the store over its byte bound. */
export class StoreFullError extends Error {
  constructor(readonly maxBytes: number) {
    super(`memory engine full: ${maxBytes} bytes of reliable messages stored (memoryMaxStoredBytes)`);
    this.name = 'StoreFullError';
  }
}

class UserInbox {
  tip = 0;
  floor = 0;
  /** Accounted bytes of the messages still held. */
  bytes = 0;
  private items: (InboxMessage | undefined)[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  /** Array slots still referencing a message (tests: proves dropped bodies are released). */
  get referenced(): number {
    let n = 0;
    for (const m of this.items) if (m !== undefined) n++;
    return n;
  }

  /** `data`/`flag`: the stored (compressed) text and its codec, flag undefined when plain. */
  append(msg: NewInboxMessage, bytes: number, data: string, flag: PayloadFlag | undefined): InboxMessage {
    const stored: Held = withSeq(msg, ++this.tip, data);
    // Compressed: the flag and the accounted bytes go with it (trim must not recount compressed text).
    if (flag !== undefined) {
      stored.z = flag;
      stored.b = bytes;
    }
    this.items.push(stored);
    this.bytes += bytes;
    return stored;
  }

  /** Drops by count and age; raises `floor`. TTL-expired heads go too, without raising it. Returns the bytes freed. */
  trim(retention: Retention, now: number): number {
    const oldest = now - retention.maxAgeMs;
    const before = this.bytes;
    const head = this.head;
    const items = this.items;
    while (this.head < items.length) {
      const m = items[this.head]!;
      const overCount = items.length - this.head > retention.maxMessages;
      const tooOld = m.ts < oldest;
      const expired = m.expiresAt !== undefined && m.expiresAt <= now;
      if (!overCount && !tooOld && !expired) break;
      if (overCount || tooOld) this.floor = m.seq;
      // Release the message now; the slot itself goes at the next compaction.
      items[this.head] = undefined;
      this.bytes -= (m as Held).b ?? messageBytes(m);
      this.head++;
    }
    // Nothing dropped (the usual append): nothing to compact.
    if (this.head === head) return 0;
    // Compact once the dead prefix dominates, so the array follows the live size.
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    } else if (this.head === this.items.length && this.head > 0) {
      this.items = [];
      this.head = 0;
    }
    return before - this.bytes;
  }

  /** Held (unexpired) messages, newest first up to `max`, and per cursor those above it that `device` receives. Reads only. */
  inspect(devices: { device: string; cursor: number }[], max: number, now: number): { depth: number; unacked: number[]; truncated: boolean } {
    const unacked = devices.map(() => 0);
    let depth = 0;
    let seen = 0;
    let i = this.items.length - 1;
    for (; i >= this.head && seen < max; i--, seen++) {
      const m = this.items[i]!;
      if (m.expiresAt !== undefined && m.expiresAt <= now) continue;
      depth++;
      devices.forEach((d, j) => {
        if (m.seq > d.cursor && (m.device === undefined || m.device === d.device)) unacked[j]!++;
      });
    }
    return { depth, unacked, truncated: i >= this.head };
  }

  readAfter(after: number, limit: number, now: number): InboxMessage[] {
    const out: InboxMessage[] = [];
    // Seqs are dense inside the array, so the start index is computed, not searched.
    const first = this.items[this.head];
    if (!first) return out;
    let i = this.head + Math.max(0, after + 1 - first.seq);
    for (; i < this.items.length && out.length < limit; i++) {
      const m = this.items[i]!;
      if (m.expiresAt !== undefined && m.expiresAt <= now) continue;
      out.push(m);
    }
    return out;
  }

  /** Seq of the oldest live message targeted at `device` with after < seq ≤ upTo. */
  firstForDevice(device: string, after: number, upTo: number, now: number): number | undefined {
    for (let i = this.head; i < this.items.length; i++) {
      const m = this.items[i]!;
      if (m.seq > upTo) break;
      if (m.seq <= after || m.device !== device) continue;
      if (m.expiresAt !== undefined && m.expiresAt <= now) continue;
      return m.seq;
    }
    return undefined;
  }
}

export class MemoryInboxStore {
  /** tenant → user → inbox: found without building a key string per message (issue 20). */
  private readonly inboxes = new Map<string, Map<string, UserInbox>>();
  private storedBytes = 0;
  private lastFullSweep = 0;

  /** `maxBytes`: bound on accounted bytes of all stored messages (0: none). */
  constructor(
    private readonly maxBytes = 0,
    /** Compresses stored data over its threshold (accounted at its stored size). */
    private readonly codec: PayloadCodec = PLAIN_CODEC,
  ) {}

  private get(tenant: string, user: string): UserInbox {
    let users = this.inboxes.get(tenant);
    if (!users) this.inboxes.set(tenant, (users = new Map()));
    let inbox = users.get(user);
    if (!inbox) {
      inbox = new UserInbox();
      users.set(user, inbox);
    }
    return inbox;
  }

  private find(tenant: string, user: string): UserInbox | undefined {
    return this.inboxes.get(tenant)?.get(user);
  }

  /** Every inbox. */
  private *all(): IterableIterator<UserInbox> {
    for (const users of this.inboxes.values()) yield* users.values();
  }

  private trimOne(inbox: UserInbox, retention: Retention, now: number): void {
    this.storedBytes -= inbox.trim(retention, now);
  }

  /** Throws StoreFullError when the store is over its bound. */
  append(tenant: string, user: string, msg: NewInboxMessage, retention: Retention, now = Date.now()): InboxMessage {
    // The user's inbox, found inline (once per reliable message: no call for it, issue 20).
    const users = this.inboxes.get(tenant);
    const inbox = users?.get(user) ?? this.get(tenant, user);
    // Plain storage (or a payload under the threshold) needs no encode call.
    const codec = this.codec;
    const enc = codec.flag === undefined || (codec.plainBelowChars !== undefined && msg.data.length < codec.plainBelowChars) ? undefined : codec.encode(msg.data);
    const flag = enc?.flag;
    const bytes = messageBytes(msg);
    if (this.maxBytes > 0 && this.storedBytes + bytes > this.maxBytes) {
      this.trimOne(inbox, retention, now);
      // Expired messages elsewhere may free room: sweep, at most once a second (a sweep walks every inbox).
      if (this.storedBytes + bytes > this.maxBytes && now - this.lastFullSweep >= 1000) {
        this.lastFullSweep = now;
        this.sweep(retention, now);
      }
      if (this.storedBytes + bytes > this.maxBytes) throw new StoreFullError(this.maxBytes);
    }
    const stored = inbox.append(msg, bytes, flag === undefined ? msg.data : enc!.data, flag);
    this.storedBytes += bytes - inbox.trim(retention, now);
    return flag === undefined ? stored : withSeq(msg, stored.seq);
  }

  readAfter(tenant: string, user: string, after: number, limit: number, retention: Retention, now = Date.now()): InboxRange {
    const inbox = this.find(tenant, user);
    // A user nobody wrote to has an empty inbox: reading it (every connect) creates none.
    if (!inbox) return { messages: [], tip: 0, floor: 0 };
    this.trimOne(inbox, retention, now);
    return { messages: inbox.readAfter(after, limit, now).map(plain), tip: inbox.tip, floor: inbox.floor };
  }

  /** See Engine.firstForDevice. */
  firstForDevice(tenant: string, user: string, device: string, after: number, upTo: number, now = Date.now()): number | undefined {
    return this.find(tenant, user)?.firstForDevice(device, after, upTo, now);
  }

  /** The admin view of one inbox (see UserInbox.inspect); an unknown user has an empty one, and none is created. */
  inspect(tenant: string, user: string, devices: { device: string; cursor: number }[], max: number, now = Date.now()): { depth: number; unacked: number[]; truncated: boolean; tip: number; floor: number } {
    const inbox = this.find(tenant, user);
    if (!inbox) return { depth: 0, unacked: devices.map(() => 0), truncated: false, tip: 0, floor: 0 };
    return { ...inbox.inspect(devices, max, now), tip: inbox.tip, floor: inbox.floor };
  }

  /** Periodic age trim of every inbox, so idle users do not hold memory for ever. */
  sweep(retention: Retention, now = Date.now()): void {
    for (const inbox of this.all()) this.trimOne(inbox, retention, now);
  }

  /** Messages held in total (for metrics). */
  depth(): number {
    let n = 0;
    for (const inbox of this.all()) n += inbox.size;
    return n;
  }

  /** Accounted bytes of every stored message. */
  bytes(): number {
    return this.storedBytes;
  }

  /** Messages still referenced by inbox arrays, dropped ones included if not released (tests). */
  referenced(): number {
    let n = 0;
    for (const inbox of this.all()) n += inbox.referenced;
    return n;
  }
}
