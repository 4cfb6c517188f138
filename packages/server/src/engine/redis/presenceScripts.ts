/**
 * The Lua scripts of presence's connection bookkeeping (presence.ts, nodeReaper.ts): each runs
 * atomically on the user's slot (the presence and conns hashes share the user's hash tag).
 *
 * Event variants: with one more key — an outbox stream — and its fields as the last arguments, the
 * script also XADDs the `online`/`offline` event when it decides one, so the presence change and its
 * webhook event commit together (issue 23: a node killed between the two lost the event). The
 * stream is another slot than the user's: only on a single Redis, never on Cluster (presence.ts).
 */
import type { Cluster, Redis } from 'ioredis';
import type { EventWrite } from '../types.js';
import { defineLua } from './luaCommand.js';

/** The script arguments that write an event: the stream's cap, then the entry's fields. */
export function eventArgs(w: EventWrite): (string | number)[] {
  return [w.maxLen, ...w.fields];
}

/** XADD KEYS[k] MAXLEN ~ ARGV[a] * ARGV[a+1..]: the event, when the script was given a stream. */
const WRITE_EVENT = (k: number, a: number): string => `
if #KEYS >= ${k} then redis.call('XADD', KEYS[${k}], 'MAXLEN', '~', ARGV[${a}], '*', unpack(ARGV, ${a + 1}, #ARGV)) end`;

/**
 * KEYS: user conns hash
 * ARGV: conn, `node|boot`
 * Adds a connection of the user; 1 when it is now the only one (the user came online in the cluster).
 */
export const CONN_ADD = `
local added = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if added == 1 and redis.call('HLEN', KEYS[1]) == 1 then return 1 end
return 0
`;

/**
 * KEYS: user conns hash [, outbox stream]
 * ARGV: conn [, maxLen, event fields…]
 * Removes a connection; 1 only for the call that removed the user's last one (idempotent), which
 * also writes the event (`offline`) when given one.
 */
export const CONN_REMOVE = `
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
if removed == 1 and redis.call('HLEN', KEYS[1]) == 0 then${WRITE_EVENT(2, 2)}
  return 1
end
return 0
`;

/**
 * A device connected: its presence record and its connection, one round trip (issue 20).
 * KEYS: user presence hash, user conns hash [, outbox stream]
 * ARGV: device, record (JSON), keyTtlMs, conn, `node|boot` [, maxLen, event fields…]
 * Returns CONN_ADD's answer: 1 when the user came online in the cluster (and the event, `online`, is written).
 *
 * Indexed (PRESENCE_ADD_INDEXED; single Redis and Sentinel, issue 20: one command per connect
 * fewer): the node's index entry is written by the same script. KEYS: …, node index hash as the
 * third key (the stream moves to the fourth); ARGV: …, index record (JSON) as the sixth, then a
 * channel and a message to PUBLISH after the writes ('' and '': none; the connect's `replace` event,
 * one command per connect fewer), the event's arguments from the ninth. On Redis Cluster the index
 * is another slot than the user's, so there its HSET is a command of its own, sent before
 * PRESENCE_ADD, and the event is published by a command of its own.
 */
const presenceAddLua = (indexed: boolean, streamKey = indexed ? 4 : 3, eventArg = indexed ? 9 : 6): string => `
${indexed ? "redis.call('HSET', KEYS[3], ARGV[4], ARGV[6])\n" : ''}redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local added = redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
${indexed ? "if ARGV[7] ~= '' then redis.call('PUBLISH', ARGV[7], ARGV[8]) end\n" : ''}local first = 0
if added == 1 and redis.call('HLEN', KEYS[2]) == 1 then${WRITE_EVENT(streamKey, eventArg)}
  first = 1
end
`;
export const PRESENCE_ADD = presenceAddLua(false) + 'return first\n';
export const PRESENCE_ADD_INDEXED = presenceAddLua(true) + 'return first\n';
/**
 * PRESENCE_ADD_INDEXED's writes, leaving `first` (0 or 1) set, for a script that does more after
 * them (CONNECT_START, connectStart.ts): its KEYS and ARGV start as PRESENCE_ADD_INDEXED's, the
 * outbox stream is KEYS[streamKey] and the event's arguments start at ARGV[eventArg].
 */
export const presenceAddIndexedPart = (streamKey: number, eventArg: number): string => presenceAddLua(true, streamKey, eventArg);

/**
 * A device's connection ended: HDEL_IF on its presence record (still this connection's) and
 * CONN_REMOVE, one round trip.
 * KEYS: user presence hash, user conns hash [, outbox stream]
 * ARGV: device, conn [, maxLen, event fields…]
 * Returns CONN_REMOVE's answer: 1 for the call that removed the user's last connection (and the event, `offline`, is written).
 *
 * Indexed (PRESENCE_REMOVE_INDEXED): the node's index entry (third key; the stream moves to the
 * fourth) is deleted by the same script, atomically after the connection; on Cluster an HDEL of
 * its own after PRESENCE_REMOVE answered.
 */
const presenceRemoveLua = (indexed: boolean): string => `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  local ok, rec = pcall(cjson.decode, v)
  if not (ok and type(rec) == 'table' and tostring(rec['conn']) ~= ARGV[2]) then redis.call('HDEL', KEYS[1], ARGV[1]) end
end
local removed = redis.call('HDEL', KEYS[2], ARGV[2])
${indexed ? "redis.call('HDEL', KEYS[3], ARGV[2])\n" : ''}if removed == 1 and redis.call('HLEN', KEYS[2]) == 0 then${indexed ? WRITE_EVENT(4, 3) : WRITE_EVENT(3, 3)}
  return 1
end
return 0
`;
export const PRESENCE_REMOVE = presenceRemoveLua(false);
export const PRESENCE_REMOVE_INDEXED = presenceRemoveLua(true);

type Scripted = Record<string, (...args: (string | number)[]) => Promise<number>>;

/**
 * Defines the presence scripts on `client` (presence.ts and the reaper share it). Returns whether
 * the node's index entry goes with PRESENCE_ADD / PRESENCE_REMOVE (a single Redis or Sentinel: not Cluster).
 */
export function definePresenceScripts(client: Redis | Cluster): boolean {
  // The reaper's (nodeReaper.ts), with and without the outbox stream as one more key.
  defineLua(client, 'heraldConnRemove', 1, CONN_REMOVE);
  defineLua(client, 'heraldConnRemoveEv', 2, CONN_REMOVE);
  // Only the variants this client runs (on Cluster, ioredis copies every defined script onto each
  // auto-pipeline batch it creates: an unused definition is not free there).
  const indexed = !(client as { isCluster?: boolean }).isCluster;
  const [add, remove, n] = indexed ? [PRESENCE_ADD_INDEXED, PRESENCE_REMOVE_INDEXED, 3] : [PRESENCE_ADD, PRESENCE_REMOVE, 2];
  defineLua(client, 'heraldPresenceAdd', n, add);
  defineLua(client, 'heraldPresenceRemove', n, remove);
  // The same scripts with the outbox stream as one more key: they write the event they decide.
  defineLua(client, 'heraldPresenceAddEv', n + 1, add);
  defineLua(client, 'heraldPresenceRemoveEv', n + 1, remove);
  return indexed;
}

/** The keys of one device's presence change: the user's two hashes and the node incarnation's index. */
export interface PresenceKeys {
  presence: string;
  conns: string;
  index: string;
}

/** A device's presence record as PRESENCE_ADD writes it (RedisPresence.adding). */
export interface PresenceAddition {
  keys: PresenceKeys;
  /** PRESENCE_ADD's ARGV: device, record (JSON), keyTtlMs, conn, `node|boot`. */
  args: [string, string, number, string, string];
  /** The node incarnation's index entry (JSON). */
  indexRecord: string;
  /** The `online` event to write with it, when the change is announced and events are written. */
  event: EventWrite | undefined;
}

/** A message the indexed PRESENCE_ADD publishes with its writes. */
export interface PresencePublish {
  channel: string;
  message: string;
}

/**
 * A device connected; true when the user came online in the cluster. `args`: PRESENCE_ADD's ARGV
 * (device, record, keyTtlMs, conn, `node|boot`). Indexed: one script, which also publishes `pub`.
 * Otherwise (Cluster) two commands sent together, the index HSET first: a crash right after it
 * leaves a reapable record, never an unreapable count; `pub` must be undefined (the caller publishes).
 */
export async function presenceAdd(
  client: Redis | Cluster,
  indexed: boolean,
  k: PresenceKeys,
  args: readonly [string, string, number, string, string],
  indexRecord: string,
  ev: EventWrite | undefined,
  pub?: PresencePublish,
): Promise<boolean> {
  const s = client as unknown as Scripted;
  if (indexed) {
    const [channel, message] = pub ? [pub.channel, pub.message] : ['', ''];
    const r = ev
      ? s.heraldPresenceAddEv!(k.presence, k.conns, k.index, ev.key, ...args, indexRecord, channel, message, ...eventArgs(ev))
      : s.heraldPresenceAdd!(k.presence, k.conns, k.index, ...args, indexRecord, channel, message);
    return (await r) === 1;
  }
  const [, first] = await Promise.all([
    client.hset(k.index, args[3], indexRecord),
    ev ? s.heraldPresenceAddEv!(k.presence, k.conns, ev.key, ...args, ...eventArgs(ev)) : s.heraldPresenceAdd!(k.presence, k.conns, ...args),
  ]);
  return first === 1;
}

/**
 * A device's connection ended; true for the call that removed the user's last connection. Indexed:
 * one script. Otherwise (Cluster, where the two keys live on different nodes and commands sent
 * together may run in either order) the index entry is deleted once PRESENCE_REMOVE answered: the
 * index outlives the count, so a crash in between leaves a reapable record.
 */
export async function presenceRemove(client: Redis | Cluster, indexed: boolean, k: PresenceKeys, device: string, conn: string, ev: EventWrite | undefined): Promise<boolean> {
  const s = client as unknown as Scripted;
  if (indexed) {
    const r = ev ? s.heraldPresenceRemoveEv!(k.presence, k.conns, k.index, ev.key, device, conn, ...eventArgs(ev)) : s.heraldPresenceRemove!(k.presence, k.conns, k.index, device, conn);
    return (await r) === 1;
  }
  const last = ev ? await s.heraldPresenceRemoveEv!(k.presence, k.conns, ev.key, device, conn, ...eventArgs(ev)) : await s.heraldPresenceRemove!(k.presence, k.conns, device, conn);
  await client.hdel(k.index, conn);
  return last === 1;
}
