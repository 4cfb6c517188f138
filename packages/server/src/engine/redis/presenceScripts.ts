/**
 * The Lua scripts of presence's connection bookkeeping (presence.ts, nodeReaper.ts): each runs
 * atomically on the user's slot (the presence and conns hashes share the user's hash tag).
 *
 * Event variants: with one more key — an outbox stream — and its fields as the last arguments, the
 * script also XADDs the `online`/`offline` event when it decides one, so the presence change and its
 * webhook event commit together (issue 23: a node killed between the two lost the event). The
 * stream is another slot than the user's: only on a single Redis, never on Cluster (presence.ts).
 */
import type { EventWrite } from '../types.js';

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
 */
export const PRESENCE_ADD = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local added = redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
if added == 1 and redis.call('HLEN', KEYS[2]) == 1 then${WRITE_EVENT(3, 6)}
  return 1
end
return 0
`;

/**
 * A device's connection ended: HDEL_IF on its presence record (still this connection's) and
 * CONN_REMOVE, one round trip.
 * KEYS: user presence hash, user conns hash [, outbox stream]
 * ARGV: device, conn [, maxLen, event fields…]
 * Returns CONN_REMOVE's answer: 1 for the call that removed the user's last connection (and the event, `offline`, is written).
 */
export const PRESENCE_REMOVE = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  local ok, rec = pcall(cjson.decode, v)
  if not (ok and type(rec) == 'table' and tostring(rec['conn']) ~= ARGV[2]) then redis.call('HDEL', KEYS[1], ARGV[1]) end
end
local removed = redis.call('HDEL', KEYS[2], ARGV[2])
if removed == 1 and redis.call('HLEN', KEYS[2]) == 0 then${WRITE_EVENT(3, 3)}
  return 1
end
return 0
`;
