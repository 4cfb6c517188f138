/**
 * An admitted connect's writes and its first replay read in one script on a single Redis or
 * Sentinel (issue 20: they were up to four commands — PRESENCE_ADD with the `replace` event,
 * SET_CURSOR, READ_AFTER and a share of NEWEST_MANY — each an ioredis Command, its RESP text and
 * reply, in auto-pipeline batches of their own).
 *
 * CONNECT_START does, atomically and in this order, what PRESENCE_ADD_INDEXED (presenceScripts.ts),
 * SET_CURSOR and READ_AFTER (scripts.ts; the same Lua functions) do when sent one after the other
 * on the command connection, as they were: the replay read is sent at the same moment as before
 * (once the user's channel is confirmed, gateway/activation.ts), so nothing appended between it
 * and the subscription falls through. When asked, it also reads the user's newest message for the
 * re-announce of a just-confirmed channel (reannounce.ts), which then costs no command of its own.
 *
 * The read reaches the device's reliable stream through a hand-off that lasts one synchronous
 * call: `start` sends the script, then calls `stream.begin()`, whose first inbox read (this user,
 * after the start point, at most the limit asked) is answered by the script's reply (`take`).
 * Any other read, or a read made later, goes to Redis as usual.
 *
 * Redis Cluster: the node's index and the published event are other slots than the user's keys,
 * so there the engine sends the commands one by one, as before (redisEngine.ts).
 */
import type { Redis } from 'ioredis';
import type { ConnectStart, InboxRange, Retention } from '../types.js';
import { toMessage, type StreamEntry } from './inboxFormat.js';
import { defineLua } from './luaCommand.js';
import type { RedisKeys } from './keys.js';
import type { RedisPresence } from './presence.js';
import { eventArgs, presenceAddIndexedPart } from './presenceScripts.js';
import type { Reannouncer } from './reannounce.js';
import type { RedisInbox } from './redisInbox.js';
import { NEWEST_OF, READ_FN, SET_CURSOR_FN } from './scripts.js';

/**
 * KEYS: user presence hash, user conns hash, node index hash, meta, inbox, cursors [, outbox stream]
 * ARGV: 1–8 as PRESENCE_ADD_INDEXED's (device, record, keyTtlMs, conn, `node|boot`, index record,
 *       channel, message); 9 now, 10 after, 11 limit, 12 maxMessages, 13 maxAgeMs (READ_AFTER's);
 *       14 cursor ('' none), 15 the cursor hash's fallback TTL (SET_CURSOR's); 16 '1': read the
 *       newest message too; from 17 the event's arguments (maxLen, fields…) when given a stream
 * Returns { first (PRESENCE_ADD's answer), tip, floor, entries (READ_AFTER's), newest entry or false }.
 */
export const CONNECT_START = `${READ_FN}${SET_CURSOR_FN}${NEWEST_OF}
${presenceAddIndexedPart(7, 17)}
if ARGV[14] ~= '' then set_cursor(KEYS[6], KEYS[5], ARGV[1], ARGV[14], ARGV[15]) end
local now = tonumber(ARGV[9])
local tip, floor, out = read_after(KEYS[4], KEYS[5], now, tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13]))
local last = false
if ARGV[16] == '1' then last = newest(KEYS[5], now) end
return { first, tip, floor, out, last }
`;

type Reply = [number, number, number, StreamEntry[], StreamEntry | null];

interface Scripts {
  heraldConnectStart(...keysThenArgs: (string | number)[]): Promise<Reply>;
  heraldConnectStartEv(...keysThenArgs: (string | number)[]): Promise<Reply>;
}

export interface ConnectStartDeps {
  cmd: Redis;
  keys: RedisKeys;
  presence: RedisPresence;
  inbox: RedisInbox;
  reannouncer: Reannouncer;
  /** `<node id>\n`: the prefix of every bus message this node publishes. */
  echoPrefix: string;
  /** Counts a failed operation by kind and passes the error on. */
  failed(op: string): (err: unknown) => never;
}

/** The read handed to the stream being begun (one synchronous call long). */
interface Handoff {
  tenant: string;
  user: string;
  after: number;
  limit: number;
  retention: Retention;
  reply: Promise<Reply>;
}

const isFirst = (r: Reply): boolean => Number(r[0]) === 1;

export class ConnectStarts {
  private handoff: Handoff | undefined;
  private readonly failedPresence: (err: unknown) => never;
  private readonly failedRead: (err: unknown) => never;

  /** Defines CONNECT_START on the client (a single Redis or Sentinel: without and with the outbox stream). */
  constructor(private readonly d: ConnectStartDeps) {
    defineLua(d.cmd, 'heraldConnectStart', 6, CONNECT_START);
    defineLua(d.cmd, 'heraldConnectStartEv', 7, CONNECT_START);
    this.failedPresence = d.failed('presence');
    this.failedRead = d.failed('read');
  }

  start(q: ConnectStart, stream: { begin(): void }): Promise<boolean> {
    const { tenant, user } = q.presence;
    const { keys, presence, inbox, reannouncer } = this.d;
    const { after, limit, retention } = q.replay;
    const channel = keys.userChannel(tenant, user);
    const newest = reannouncer.claim(channel);
    const a = presence.adding(q.presence, q.announce);
    const scripts = this.d.cmd as unknown as Scripts;
    const args: (string | number)[] = [a.keys.presence, a.keys.conns, a.keys.index, keys.userMeta(tenant, user), keys.userInbox(tenant, user), keys.userCursors(tenant, user)];
    if (a.event) args.push(a.event.key);
    args.push(...a.args, a.indexRecord, keys.eventChannel(q.publish), this.d.echoPrefix + JSON.stringify(q.publish));
    args.push(Date.now(), Math.max(0, Math.floor(after)), Math.max(0, Math.floor(limit)), retention.maxMessages, retention.maxAgeMs);
    args.push(q.cursor ?? '', inbox.cursorTtlMs(), newest ? '1' : '');
    if (a.event) args.push(...eventArgs(a.event));
    const reply = a.event ? scripts.heraldConnectStartEv(...args) : scripts.heraldConnectStart(...args);
    if (newest) {
      reply.then(
        (r) => reannouncer.announce(tenant, user, r[4] ? toMessage(r[4]) : undefined),
        () => reannouncer.unclaimed(tenant, user),
      );
    }
    this.handoff = { tenant, user, after, limit, retention, reply };
    try {
      stream.begin();
    } finally {
      this.handoff = undefined;
    }
    return reply.then(isFirst, this.failedPresence);
  }

  /** The read handed to the stream being begun, when this is it (else undefined: read from Redis). */
  take(tenant: string, user: string, after: number, limit: number, retention: Retention): Promise<InboxRange> | undefined {
    const h = this.handoff;
    if (h === undefined || h.user !== user || h.tenant !== tenant || h.after !== after || limit > h.limit) return undefined;
    if (retention.maxMessages !== h.retention.maxMessages || retention.maxAgeMs !== h.retention.maxAgeMs) return undefined;
    this.handoff = undefined;
    // The first `limit` of the first h.limit unexpired messages after `after` are the first `limit` of them.
    return h.reply.then((r) => rangeOf(r, limit), this.failedRead);
  }
}

function rangeOf(r: Reply, limit: number): InboxRange {
  const entries = r[3].length > limit ? r[3].slice(0, limit) : r[3];
  return { messages: entries.map(toMessage), tip: Number(r[1]), floor: Number(r[2]) };
}
