/**
 * Unacked deadlines (publish option `notify_unacked_after`): a store of
 * (message, due time) that hands each due deadline to exactly one caller.
 * The memory store is for one process; redisDeadlines.ts is shared by the
 * cluster (a sorted set, claimed atomically), so a deadline fires once for
 * the cluster whichever node published the message, and survives the crash
 * of that node.
 */

export interface Deadline {
  tenant: string;
  user: string;
  seq: number;
  /** The message id the publish returned. */
  id: string;
  /** Set for a device-targeted message: only that device's ack counts. */
  device?: string;
  /** Due time, ms since the epoch. */
  at: number;
}

export interface DeadlineStore {
  add(d: Deadline): Promise<void>;
  /**
   * Claims up to `max` deadlines due at `now`: each is handed out once. A claim not `settle`d
   * within the claim lease is handed out again (its claimer died).
   */
  due(now: number, max: number): Promise<Deadline[]>;
  /** The claimed deadline was handled. */
  settle(d: Deadline): Promise<void>;
  /** Deadlines waiting (for the admin view and tests). */
  size(): Promise<number>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** One process: a list scanned on each tick (bounded by the memory engine's inbox bound). */
export class MemoryDeadlines implements DeadlineStore {
  private items: Deadline[] = [];

  async add(d: Deadline): Promise<void> {
    this.items.push(d);
  }

  async due(now: number, max: number): Promise<Deadline[]> {
    const out: Deadline[] = [];
    const keep: Deadline[] = [];
    for (const d of this.items) (d.at <= now && out.length < max ? out : keep).push(d);
    this.items = keep;
    return out;
  }

  async settle(): Promise<void> {}
  async size(): Promise<number> {
    return this.items.length;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

export function encodeDeadline(d: Deadline): string {
  return JSON.stringify([d.tenant, d.user, d.seq, d.id, d.device ?? null, d.at]);
}

export function decodeDeadline(s: string): Deadline | undefined {
  try {
    const [tenant, user, seq, id, device, at] = JSON.parse(s) as [string, string, number, string, string | null, number];
    return { tenant, user, seq, id, at, ...(device !== null ? { device } : {}) };
  } catch {
    return undefined;
  }
}
