/**
 * Room history on Redis: per room a hash (`epoch`, `top`, `ms`) and a stream
 * whose entry ids are `<ms>-<offset>` — offsets are dense, so "after offset
 * N" is the newest `top - N` entries, and `XTRIM MINID <now - ttl>` trims by
 * age exactly. One script appends, trims by size and age, refreshes both
 * keys' TTL and publishes the frame on the room's channel, so a message is
 * never in history without being sent, nor sent without its offset.
 *
 * The publish carries no node's echo prefix: every node, the publishing one
 * included, delivers history rooms from the channel, so all of them see one
 * order — the script's. A lost hash (Redis data loss, or the room idle past
 * ttl + grace) means a new epoch, chosen by the caller and used only then.
 */
import type { RedisClient } from '../../redis/connect.js';
import type { RoomHistoryPolicy, RoomHistoryRange, RoomHistoryStore, RoomPosition } from '../types.js';
import { newEpoch } from '../memory/roomHistory.js';
import type { RedisKeys } from './keys.js';
import { defineLua } from './luaCommand.js';

/** The echo prefix of history publishes: no node id can be `*`, so every node takes them. */
export const EVERY_NODE_PREFIX = '*\n';
/** The keys outlive the newest message by this much; an idle room's epoch then goes with them. */
const KEY_GRACE_MS = 60_000;

const ENSURE = `
local function ensure(meta, stream, candidate, keyTtl)
  local epoch = redis.call('HGET', meta, 'epoch')
  if epoch then return epoch end
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'epoch', candidate, 'top', 0, 'ms', 0)
  redis.call('PEXPIRE', meta, keyTtl)
  return candidate
end
`;

/**
 * KEYS: meta, stream
 * ARGV: now, size, ttlMs, candidateEpoch, publishCommand ('' none), channel, eventHead, eventTail, frameHead, frameTail
 * Returns { offset, epoch }.
 */
export const ROOM_APPEND = `${ENSURE}
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[3])
local keyTtl = ttl + ${KEY_GRACE_MS}
local epoch = ensure(KEYS[1], KEYS[2], ARGV[4], keyTtl)
local off = redis.call('HINCRBY', KEYS[1], 'top', 1)
local ms = tonumber(redis.call('HGET', KEYS[1], 'ms') or '0')
if now > ms then ms = now end
redis.call('HSET', KEYS[1], 'ms', string.format('%d', ms))
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], string.format('%d-%d', ms, off), 'f', ARGV[9] .. off .. ARGV[10])
redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d', now - ttl))
redis.call('PEXPIRE', KEYS[1], keyTtl)
redis.call('PEXPIRE', KEYS[2], keyTtl)
if ARGV[5] ~= '' then redis.call(ARGV[5], ARGV[6], ARGV[7] .. off .. ARGV[8]) end
return { off, epoch }
`;

/**
 * KEYS: meta, stream
 * ARGV: now, ttlMs, candidateEpoch, after (-1: the newest `limit`), limit
 * Returns { epoch, top, floor, entries (newest first) }.
 */
export const ROOM_READ = `${ENSURE}
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local epoch = ensure(KEYS[1], KEYS[2], ARGV[3], ttl + ${KEY_GRACE_MS})
local after = tonumber(ARGV[4])
local limit = tonumber(ARGV[5])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d', now - ttl)) end
local top = tonumber(redis.call('HGET', KEYS[1], 'top') or '0')
local floor = top
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if #first > 0 then floor = tonumber(string.match(first[1][1], '-(%d+)$')) - 1 end
local n = limit
if after >= 0 then
  n = top - math.max(after, floor)
end
local entries = {}
if n > 0 then entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', n) end
return { epoch, top, floor, entries }
`;

type Entry = [id: string, fields: string[]];

interface RoomScripts {
  heraldRoomAppend(meta: string, stream: string, ...argv: (string | number)[]): Promise<[number, string]>;
  heraldRoomRead(meta: string, stream: string, ...argv: (string | number)[]): Promise<[string, number, number, Entry[]]>;
}

export interface RedisRoomHistoryOptions {
  cmd: RedisClient;
  keys: RedisKeys;
  sharded: boolean;
  failed(op: string): (err: unknown) => never;
}

export class RedisRoomHistory implements RoomHistoryStore {
  readonly selfDelivers = true;

  constructor(private readonly o: RedisRoomHistoryOptions) {
    defineLua(o.cmd, 'heraldRoomAppend', 2, ROOM_APPEND);
    defineLua(o.cmd, 'heraldRoomRead', 2, ROOM_READ);
  }

  private get scripts(): RoomScripts {
    return this.o.cmd as unknown as RoomScripts;
  }

  async append(tenant: string, room: string, frameHead: string, frameTail: string, policy: RoomHistoryPolicy): Promise<RoomPosition> {
    const k = this.o.keys;
    const route = JSON.stringify({ kind: 'room', tenant, room });
    // The bus event around the offset; the frame is a JSON string inside it, escaped piecewise
    // (escaping is per character, so the pieces concatenate to the escaped whole).
    const eventHead = `${EVERY_NODE_PREFIX}{"kind":"deliver","route":${route},"frame":${JSON.stringify(frameHead).slice(0, -1)}`;
    const eventTail = `${JSON.stringify(frameTail).slice(1)}}`;
    const [offset, epoch] = await this.scripts
      .heraldRoomAppend(
        k.roomHistoryMeta(tenant, room),
        k.roomHistory(tenant, room),
        Date.now(),
        policy.size,
        policy.ttlMs,
        newEpoch(),
        this.o.sharded ? 'SPUBLISH' : 'PUBLISH',
        k.roomChannel(tenant, room),
        eventHead,
        eventTail,
        frameHead,
        frameTail,
      )
      .catch(this.o.failed('room_append'));
    return { offset: Number(offset), epoch: String(epoch) };
  }

  async read(tenant: string, room: string, after: number | undefined, limit: number, policy: RoomHistoryPolicy): Promise<RoomHistoryRange> {
    const k = this.o.keys;
    const [epoch, top, floor, entries] = await this.scripts
      .heraldRoomRead(k.roomHistoryMeta(tenant, room), k.roomHistory(tenant, room), Date.now(), policy.ttlMs, newEpoch(), after ?? -1, Math.max(1, limit))
      .catch(this.o.failed('room_read'));
    const messages = entries
      .map(([id, f]) => ({ offset: Number(id.slice(id.indexOf('-') + 1)), frame: f[1] ?? '' }))
      .reverse()
      .slice(0, limit);
    return { epoch: String(epoch), offset: Number(top), floor: Number(floor), messages };
  }
}
