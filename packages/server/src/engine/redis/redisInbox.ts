/**
 * The reliable inbox on Redis: appends, reads and cursors, each one Lua
 * script on the user's slot (scripts.ts), entries in the format of
 * inboxFormat.ts. An append also publishes the `inbox` event to the user's
 * channel in the same script, so a message is never stored without being
 * announced, nor announced without being stored.
 */
import type { AppendOnce, InboxMessage, InboxRange, InboxStore, NewInboxMessage, Retention, StoredMessage } from '../types.js';
import type { RedisClient } from '../../redis/connect.js';
import { withSeq } from '../inboxMessage.js';
import { inboxEventParts, toMessage, type StreamEntry } from './inboxFormat.js';
import type { RedisKeys } from './keys.js';
import { PLAIN_CODEC, type PayloadCodec } from '../payloadCodec.js';

/** Inbox keys outlive the newest message's age limit by this much, so expiry never races the age trim. */
const KEY_TTL_GRACE_MS = 60_000;
const DEFAULT_RETENTION_MS = 7 * 86_400_000;

interface InboxScripts {
  heraldAppend(meta: string, inbox: string, cursors: string, once: string, ...argv: (string | number)[]): Promise<[number, number, string?]>;
  heraldReadAfter(meta: string, inbox: string, ...argv: (string | number)[]): Promise<[number, number, StreamEntry[]]>;
  heraldSetCursor(cursors: string, inbox: string, device: string, seq: number, fallbackTtlMs: number): Promise<number>;
  heraldDeviceCursors(cursors: string): Promise<[number, number]>;
  heraldFirstForDevice(inbox: string, device: string, after: number, upTo: number, now: number): Promise<number | null>;
  heraldNewest(inbox: string, now: number): Promise<StreamEntry | null>;
  heraldNewestMany(numberOfKeys: number, ...inboxesThenNow: (string | number)[]): Promise<(StreamEntry | null)[]>;
}

export interface RedisInboxOptions {
  cmd: RedisClient;
  keys: RedisKeys;
  /** Redis Cluster: publish with SPUBLISH (sharded pub/sub). */
  sharded: boolean;
  /** `<node id>\n`: the prefix of every bus message this node publishes. */
  echoPrefix: string;
  /** Counts a failed operation by kind and passes the error on. */
  failed(op: string): (err: unknown) => never;
  /** Compression of stored data (engine/payloadCodec.ts); default: plain. */
  codec?: PayloadCodec;
}

export class RedisInbox implements InboxStore {
  private lastRetentionMs = DEFAULT_RETENTION_MS;

  constructor(private readonly o: RedisInboxOptions) {}

  private get scripts(): InboxScripts {
    return this.o.cmd as unknown as InboxScripts;
  }

  async append(tenant: string, user: string, message: NewInboxMessage, retention: Retention, once?: AppendOnce): Promise<StoredMessage> {
    this.lastRetentionMs = retention.maxAgeMs;
    const k = this.o.keys;
    // The `inbox` bus event carries the plain data: receivers deliver it as it comes, with no
    // decompression per node, and nodes of an older version read it too. Only the entry is packed.
    const { head, tail } = inboxEventParts(this.o.echoPrefix, tenant, user, message);
    const stored = (this.o.codec ?? PLAIN_CODEC).encode(message.data);
    const [seq, floor, firstId] = await this.scripts
      .heraldAppend(
        k.userMeta(tenant, user),
        k.userInbox(tenant, user),
        k.userCursors(tenant, user),
        once ? k.userAppendOnce(tenant, user, once.key) : k.userMeta(tenant, user),
        Date.now(),
        retention.maxMessages,
        retention.maxAgeMs,
        retention.maxAgeMs + KEY_TTL_GRACE_MS,
        message.id,
        message.ts,
        stored.data,
        message.device ?? '',
        message.event ?? '',
        message.expiresAt ?? '',
        this.o.sharded ? 'SPUBLISH' : 'PUBLISH',
        k.userChannel(tenant, user),
        head,
        tail,
        stored.flag ?? '',
        once ? Math.max(1, Math.floor(once.ttlMs)) : '',
        message.platform ?? '',
        message.binary ? '1' : '',
      )
      .catch(this.o.failed('append'));
    const result: StoredMessage = withSeq(message, Number(seq));
    if (Number(floor) === -1) {
      result.id = firstId ?? message.id;
      result.duplicate = true;
    }
    return result;
  }

  async readAfter(tenant: string, user: string, after: number, limit: number, retention: Retention): Promise<InboxRange> {
    const k = this.o.keys;
    const [tip, floor, entries] = await this.scripts
      .heraldReadAfter(
        k.userMeta(tenant, user),
        k.userInbox(tenant, user),
        Date.now(),
        Math.max(0, Math.floor(after)),
        Math.max(0, Math.floor(limit)),
        retention.maxMessages,
        retention.maxAgeMs,
      )
      .catch(this.o.failed('read'));
    return { messages: entries.map(toMessage), tip: Number(tip), floor: Number(floor) };
  }

  async getCursor(tenant: string, user: string, device: string): Promise<number | undefined> {
    const v = await this.o.cmd.hget(this.o.keys.userCursors(tenant, user), device).catch(this.o.failed('cursor'));
    return v === null ? undefined : Number(v);
  }

  /** The cursor hash's least TTL, as setCursor gives it (also CONNECT_START's, connectStart.ts). */
  cursorTtlMs(): number {
    return this.lastRetentionMs + KEY_TTL_GRACE_MS;
  }

  async setCursor(tenant: string, user: string, device: string, seq: number): Promise<void> {
    const k = this.o.keys;
    await this.scripts
      .heraldSetCursor(k.userCursors(tenant, user), k.userInbox(tenant, user), device, seq, this.cursorTtlMs())
      .catch(this.o.failed('cursor'));
  }

  async deviceCursors(tenant: string, user: string): Promise<{ count: number; max: number }> {
    const [count, max] = await this.scripts.heraldDeviceCursors(this.o.keys.userCursors(tenant, user)).catch(this.o.failed('cursor'));
    return { count: Number(count), max: Number(max) };
  }

  async firstForDevice(tenant: string, user: string, device: string, after: number, upTo: number): Promise<number | undefined> {
    if (upTo <= after) return undefined;
    const r = await this.scripts
      .heraldFirstForDevice(this.o.keys.userInbox(tenant, user), device, Math.max(0, Math.floor(after)), Math.floor(upTo), Date.now())
      .catch(this.o.failed('read'));
    return r === null ? undefined : Number(r);
  }

  /** The user's newest unexpired message, if any (re-announced after a subscription is confirmed). */
  async newest(tenant: string, user: string): Promise<InboxMessage | undefined> {
    const entry = await this.scripts.heraldNewest(this.o.keys.userInbox(tenant, user), Date.now());
    return entry ? toMessage(entry) : undefined;
  }

  /** newest() of several users in one command (a single Redis or Sentinel only: scripts.ts NEWEST_MANY). */
  async newestMany(users: readonly { tenant: string; user: string }[]): Promise<(InboxMessage | undefined)[]> {
    const args: (string | number)[] = users.map((u) => this.o.keys.userInbox(u.tenant, u.user));
    args.push(Date.now());
    const entries = await this.scripts.heraldNewestMany(users.length, ...args);
    return entries.map((e) => (e ? toMessage(e) : undefined));
  }
}
