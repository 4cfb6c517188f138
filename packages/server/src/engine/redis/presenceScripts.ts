/**
 * The Lua scripts of presence's connection bookkeeping (presence.ts, nodeReaper.ts): each runs
 * atomically on the user's slot (the presence and conns hashes share the user's hash tag).
 */

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
 * KEYS: user conns hash
 * ARGV: conn
 * Removes a connection; 1 only for the call that removed the user's last one (idempotent).
 */
export const CONN_REMOVE = `
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
if removed == 1 and redis.call('HLEN', KEYS[1]) == 0 then return 1 end
return 0
`;

/**
 * A device connected: its presence record and its connection, one round trip (issue 20).
 * KEYS: user presence hash, user conns hash
 * ARGV: device, record (JSON), keyTtlMs, conn, `node|boot`
 * Returns CONN_ADD's answer: 1 when the user came online in the cluster.
 */
export const PRESENCE_ADD = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local added = redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
if added == 1 and redis.call('HLEN', KEYS[2]) == 1 then return 1 end
return 0
`;

/**
 * A device's connection ended: HDEL_IF on its presence record (still this connection's) and
 * CONN_REMOVE, one round trip.
 * KEYS: user presence hash, user conns hash
 * ARGV: device, conn
 * Returns CONN_REMOVE's answer: 1 for the call that removed the user's last connection.
 */
export const PRESENCE_REMOVE = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  local ok, rec = pcall(cjson.decode, v)
  if not (ok and type(rec) == 'table' and tostring(rec['conn']) ~= ARGV[2]) then redis.call('HDEL', KEYS[1], ARGV[1]) end
end
local removed = redis.call('HDEL', KEYS[2], ARGV[2])
if removed == 1 and redis.call('HLEN', KEYS[2]) == 0 then return 1 end
return 0
`;
