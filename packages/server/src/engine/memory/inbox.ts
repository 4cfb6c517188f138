/**
 * In-memory per-user inbox: an append-only array with a moving head, trimmed
 * by count and age. Seq counters outlive trimmed messages so a user's seq
 * never restarts while the process lives.
 */
import type { InboxMessage, InboxRange, NewInboxMessage, Retention } from '../types.js';

class UserInbox {
  tip = 0;
  floor = 0;
  private items: InboxMessage[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  append(msg: NewInboxMessage, retention: Retention, now: number): InboxMessage {
    const stored: InboxMessage = { ...msg, seq: ++this.tip };
    this.items.push(stored);
    this.trim(retention, now);
    return stored;
  }

  /** Drops by count and age; raises `floor`. TTL-expired heads go too, without raising it. */
  trim(retention: Retention, now: number): void {
    const oldest = now - retention.maxAgeMs;
    while (this.head < this.items.length) {
      const m = this.items[this.head]!;
      const overCount = this.size > retention.maxMessages;
      const tooOld = m.ts < oldest;
      const expired = m.expiresAt !== undefined && m.expiresAt <= now;
      if (!overCount && !tooOld && !expired) break;
      if (overCount || tooOld) this.floor = m.seq;
      this.head++;
    }
    // Compact once the dead prefix dominates, so memory follows the live size.
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
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
}

export class MemoryInboxStore {
  private readonly inboxes = new Map<string, UserInbox>();

  private get(tenant: string, user: string): UserInbox {
    const key = tenant + '\u0000' + user;
    let inbox = this.inboxes.get(key);
    if (!inbox) {
      inbox = new UserInbox();
      this.inboxes.set(key, inbox);
    }
    return inbox;
  }

  append(tenant: string, user: string, msg: NewInboxMessage, retention: Retention, now = Date.now()): InboxMessage {
    return this.get(tenant, user).append(msg, retention, now);
  }

  readAfter(tenant: string, user: string, after: number, limit: number, retention: Retention, now = Date.now()): InboxRange {
    const inbox = this.get(tenant, user);
    inbox.trim(retention, now);
    return { messages: inbox.readAfter(after, limit, now), tip: inbox.tip, floor: inbox.floor };
  }

  /** The admin view of one inbox (see UserInbox.inspect); an unknown user has an empty one, and none is created. */
  inspect(tenant: string, user: string, devices: { device: string; cursor: number }[], max: number, now = Date.now()): { depth: number; unacked: number[]; truncated: boolean; tip: number; floor: number } {
    const inbox = this.inboxes.get(tenant + '\u0000' + user);
    if (!inbox) return { depth: 0, unacked: devices.map(() => 0), truncated: false, tip: 0, floor: 0 };
    return { ...inbox.inspect(devices, max, now), tip: inbox.tip, floor: inbox.floor };
  }

  /** Periodic age trim of every inbox, so idle users do not hold memory for ever. */
  sweep(retention: Retention, now = Date.now()): void {
    for (const inbox of this.inboxes.values()) inbox.trim(retention, now);
  }

  /** Messages held in total (for metrics). */
  depth(): number {
    let n = 0;
    for (const inbox of this.inboxes.values()) n += inbox.size;
    return n;
  }
}
