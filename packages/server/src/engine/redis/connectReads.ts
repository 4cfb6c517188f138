/**
 * The connect path's reads on Redis in one round trip (issue 20): the inbox
 * head, the device's cursor, the user's device cursors and presence hash, all
 * on the user's slot, read by one script (CONNECT_READS in scripts.ts) instead
 * of up to three dependent round trips. The start-point logic stays in
 * delivery/startPoint.ts: it reads through `PrefetchedInbox`, which answers
 * the reads the script made and passes anything else to the real inbox.
 */
import type { RedisClient } from '../../redis/connect.js';
import type { AppendOnce, ConnectReads, ConnectReadsQuery, DevicePresence, InboxRange, InboxStore, NewInboxMessage, Retention, StoredMessage } from '../types.js';
import type { RedisKeys } from './keys.js';

interface ConnectScript {
  heraldConnectReads(meta: string, inbox: string, cursors: string, presence: string, ...argv: (string | number)[]): Promise<[number, number, string | null, number, number, string[]]>;
}

/** One CONNECT_READS call; `devicesOf` filters the presence hash by node liveness (presence.ts). */
export async function readForConnect(
  cmd: RedisClient,
  keys: RedisKeys,
  inbox: InboxStore,
  q: ConnectReadsQuery,
  devicesOf: (tenant: string, user: string, all: Record<string, string>) => Promise<DevicePresence[]>,
): Promise<ConnectReads> {
  const { tenant, user } = q;
  const [tip, floor, cursor, count, max, flat] = await (cmd as unknown as ConnectScript).heraldConnectReads(
    keys.userMeta(tenant, user),
    keys.userInbox(tenant, user),
    keys.userCursors(tenant, user),
    keys.userPresence(tenant, user),
    Date.now(),
    q.retention.maxMessages,
    q.retention.maxAgeMs,
    q.device,
    q.cursor ? '1' : '',
    q.presence ? '1' : '',
  );
  const snap: ConnectSnapshot = { tip: Number(tip), floor: Number(floor), cursor: cursor === null ? undefined : Number(cursor), count: Number(count), max: Number(max) };
  return { inbox: new PrefetchedInbox(inbox, q, snap), presence: q.presence ? await devicesOf(tenant, user, pairsToRecord(flat)) : undefined };
}

/** The script's answers for one device. */
export interface ConnectSnapshot {
  tip: number;
  floor: number;
  /** The device's cursor; undefined when it has none or it was not read. */
  cursor: number | undefined;
  /** Devices with a cursor and the highest cursor (read only when the device has none). */
  count: number;
  max: number;
}

export class PrefetchedInbox implements InboxStore {
  constructor(
    private readonly inbox: InboxStore,
    private readonly q: ConnectReadsQuery,
    private readonly snap: ConnectSnapshot,
  ) {}

  private mine(tenant: string, user: string): boolean {
    return tenant === this.q.tenant && user === this.q.user;
  }

  getCursor(tenant: string, user: string, device: string): Promise<number | undefined> {
    if (this.q.cursor && this.mine(tenant, user) && device === this.q.device) return Promise.resolve(this.snap.cursor);
    return this.inbox.getCursor(tenant, user, device);
  }

  /** The head read (`after` beyond every seq, no messages) is answered from the snapshot. */
  readAfter(tenant: string, user: string, after: number, limit: number, retention: Retention): Promise<InboxRange> {
    if (limit === 0 && after === Number.MAX_SAFE_INTEGER && this.mine(tenant, user)) return Promise.resolve({ messages: [], tip: this.snap.tip, floor: this.snap.floor });
    return this.inbox.readAfter(tenant, user, after, limit, retention);
  }

  deviceCursors(tenant: string, user: string): Promise<{ count: number; max: number }> {
    // Read by the script only for a device without a cursor: the one case the start point asks.
    if (this.q.cursor && this.snap.cursor === undefined && this.mine(tenant, user)) return Promise.resolve({ count: this.snap.count, max: this.snap.max });
    return this.inbox.deviceCursors(tenant, user);
  }

  firstForDevice(tenant: string, user: string, device: string, after: number, upTo: number): Promise<number | undefined> {
    return this.inbox.firstForDevice(tenant, user, device, after, upTo);
  }

  append(tenant: string, user: string, message: NewInboxMessage, retention: Retention, once?: AppendOnce): Promise<StoredMessage> {
    return this.inbox.append(tenant, user, message, retention, once);
  }

  setCursor(tenant: string, user: string, device: string, seq: number): Promise<void> {
    return this.inbox.setCursor(tenant, user, device, seq);
  }
}

/** HGETALL's flat reply as Lua returns it ([field, value, …]) as a record. */
export function pairsToRecord(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}
