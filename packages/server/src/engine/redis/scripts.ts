/**
 * Lua scripts: each runs atomically on the Redis node that owns the user's
 * slot (all keys of a script share one hash tag, see keys.ts).
 *
 * The inbox is a Stream whose entry ids are `<seq>-0`: XRANGE by id is a
 * seq-range read, XTRIM MINID drops a seq prefix, and entries of one user are
 * packed in listpacks (far smaller than one sorted-set member per message).
 * The entry fields and the inbox event the append publishes are described,
 * and decoded, in inboxFormat.ts.
 *
 * Numbers pass through Lua as doubles: exact for seqs and ms timestamps (< 2^53).
 */
import type { RedisClient } from '../../redis/connect.js';
import { defineLua } from './luaCommand.js';

/**
 * Drops the head of the inbox by count, age and per-message expiry, exactly
 * as the memory engine does: walk from the oldest, stop at the first message
 * that stays. Count/age drops raise the floor; TTL-expired messages do not (a
 * reader did not lose them: they were meant to vanish).
 * Reads the head in small, growing batches: in the steady state (inbox full)
 * one append drops one message and looks at two.
 */
const TRIM = `
local function trim(meta, inbox, now, maxMessages, maxAgeMs)
  local oldest = now - maxAgeMs
  local size = redis.call('XLEN', inbox)
  local floor = tonumber(redis.call('HGET', meta, 'floor') or '0')
  local newFloor = floor
  local lastDrop = nil
  local dropped = 0
  local start = '-'
  local count = size - maxMessages + 1
  if count < 2 then count = 2 end
  while size - dropped > 0 do
    if count > 256 then count = 256 end
    local batch = redis.call('XRANGE', inbox, start, '+', 'COUNT', count)
    if #batch == 0 then break end
    local keep = false
    for _, e in ipairs(batch) do
      local f = e[2]
      local ts = 0
      local exp = nil
      for j = 1, #f, 2 do
        if f[j] == 't' then ts = tonumber(f[j + 1]) elseif f[j] == 'x' then exp = tonumber(f[j + 1]) end
      end
      local overCount = (size - dropped) > maxMessages
      local tooOld = ts < oldest
      local expired = exp ~= nil and exp <= now
      if not overCount and not tooOld and not expired then keep = true break end
      local seq = tonumber(string.match(e[1], '^(%d+)'))
      if (overCount or tooOld) and seq > newFloor then newFloor = seq end
      lastDrop = seq
      dropped = dropped + 1
    end
    if keep then break end
    start = '(' .. batch[#batch][1]
    count = count * 2
  end
  if lastDrop ~= nil then redis.call('XTRIM', inbox, 'MINID', string.format('%d-0', lastDrop + 1)) end
  if newFloor ~= floor then redis.call('HSET', meta, 'floor', string.format('%d', newFloor)) end
  return newFloor
end
`;

/**
 * KEYS: meta, inbox, cursors, once (the AppendOnce record; any key of the slot when unused)
 * ARGV: now, maxMessages, maxAgeMs, keyTtlMs, id, ts, data, device, event, expiresAt,
 *       publishCommand (PUBLISH | SPUBLISH | ''), channel, eventHead, eventTail, compression, onceTtlMs,
 *       platform, binary ('1' or '')
 * ('' = absent for device, event, expiresAt, compression (see inboxFormat.ts), onceTtlMs, platform.)
 * Returns { seq, floor } — or { seq, -1, id } when the once record exists: an earlier
 * append with the same key stored the message, and nothing is stored or published now.
 * The record is written in the same script as the message, so the two never part.
 *
 * The published event is `eventHead .. seq .. eventTail`: the caller builds
 * the JSON around the one value only Redis knows, so Lua needs no JSON encoder
 * and the event is serialized once, by the caller.
 */
export const APPEND = `${TRIM}
local now = tonumber(ARGV[1])
if ARGV[16] ~= '' then
  local done = redis.call('GET', KEYS[4])
  if done then
    local bar = string.find(done, '|', 1, true)
    return { tonumber(string.sub(done, 1, bar - 1)), -1, string.sub(done, bar + 1) }
  end
end
local seq = redis.call('HINCRBY', KEYS[1], 'tip', 1)
local fields = { 'i', ARGV[5], 't', ARGV[6], 'd', ARGV[7] }
if ARGV[8] ~= '' then fields[#fields + 1] = 'v'; fields[#fields + 1] = ARGV[8] end
if ARGV[9] ~= '' then fields[#fields + 1] = 'e'; fields[#fields + 1] = ARGV[9] end
if ARGV[10] ~= '' then fields[#fields + 1] = 'x'; fields[#fields + 1] = ARGV[10] end
if ARGV[15] ~= nil and ARGV[15] ~= '' then fields[#fields + 1] = 'z'; fields[#fields + 1] = ARGV[15] end
if ARGV[17] ~= nil and ARGV[17] ~= '' then fields[#fields + 1] = 'p'; fields[#fields + 1] = ARGV[17] end
if ARGV[18] == '1' then fields[#fields + 1] = 'b'; fields[#fields + 1] = '1' end
redis.call('XADD', KEYS[2], string.format('%d-0', seq), unpack(fields))
redis.call('HSET', KEYS[1], 'ts', ARGV[6])
local floor = trim(KEYS[1], KEYS[2], now, tonumber(ARGV[2]), tonumber(ARGV[3]))
-- An idle user's inbox (and cursors) vanish once every message in it is past retention.
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[4]) end
if ARGV[16] ~= '' then redis.call('SET', KEYS[4], string.format('%d', seq) .. '|' .. ARGV[5], 'PX', ARGV[16]) end
if ARGV[11] ~= '' then redis.call(ARGV[11], ARGV[12], ARGV[13] .. string.format('%d', seq) .. ARGV[14]) end
return { seq, floor }
`;

/**
 * The inbox head as a read sees it: { tip, floor } after trimming by
 * retention, and whether the inbox key exists (an absent key holds nothing).
 */
const HEAD = `
local function head(metaKey, inbox, now, maxMessages, maxAgeMs)
  local meta = redis.call('HMGET', metaKey, 'tip', 'floor', 'ts')
  local tip = tonumber(meta[1] or '0')
  local floor = tonumber(meta[2] or '0')
  if redis.call('EXISTS', inbox) == 0 then
    -- The inbox key expires (PEXPIRE in APPEND) only after everything in it
    -- passed the age limit: all of it was dropped by retention.
    if tip > floor and meta[3] and tonumber(meta[3]) < now - maxAgeMs then
      floor = tip
      redis.call('HSET', metaKey, 'floor', string.format('%d', floor))
    end
    return tip, floor, false
  end
  return tip, trim(metaKey, inbox, now, maxMessages, maxAgeMs), true
end
`;

/**
 * read_after(meta, inbox, now, after, limit, maxMessages, maxAgeMs) → tip, floor, entries: the
 * head, then up to `limit` entries after `after` as XRANGE returns them, expired ones left out.
 * (READ_AFTER, and the replay read of CONNECT_START in connectStart.ts.)
 */
export const READ_FN = `${TRIM}${HEAD}
local function read_after(metaKey, inbox, now, after, limit, maxMessages, maxAgeMs)
  local tip, floor, exists = head(metaKey, inbox, now, maxMessages, maxAgeMs)
  local out = {}
  if not exists then return tip, floor, out end
  local start = string.format('(%d-0', after)
  while #out < limit do
    local batch = redis.call('XRANGE', inbox, start, '+', 'COUNT', limit - #out)
    if #batch == 0 then break end
    for _, e in ipairs(batch) do
      local f = e[2]
      local exp = nil
      for j = 1, #f, 2 do
        if f[j] == 'x' then exp = tonumber(f[j + 1]) end
      end
      if exp == nil or exp > now then out[#out + 1] = e end
    end
    start = '(' .. batch[#batch][1]
  end
  return tip, floor, out
end
`;

/** KEYS: meta, inbox; ARGV: now, after, limit, maxMessages, maxAgeMs. Returns { tip, floor, entries } (read_after above). */
export const READ_AFTER = `${READ_FN}
local tip, floor, out = read_after(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
return { tip, floor, out }
`;

/**
 * What a connect reads, in one round trip (issue 20: it took up to three):
 * KEYS: meta, inbox, cursors, presence
 * ARGV: now, maxMessages, maxAgeMs, device, wantCursor ('1': the client sent no last_seq),
 *       wantPresence ('1': the per-user connection limit is on)
 * Returns { tip, floor, cursor or false, devices with a cursor, highest cursor, presence }:
 * the inbox head exactly as READ_AFTER with limit 0 returns it; the device's cursor when asked;
 * the device-cursor summary of DEVICE_CURSORS when asked and the device has none (only a
 * never-seen device needs it); the presence hash flat (HGETALL) when asked, else {}.
 */
export const CONNECT_READS = `${TRIM}${HEAD}
local tip, floor = head(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
local cursor = false
local count = 0
local max = 0
if ARGV[5] == '1' then
  cursor = redis.call('HGET', KEYS[3], ARGV[4])
  if not cursor then
    local vals = redis.call('HVALS', KEYS[3])
    for _, v in ipairs(vals) do
      local n = tonumber(v)
      if n and n > max then max = n end
    end
    count = #vals
  end
end
local presence = {}
if ARGV[6] == '1' then presence = redis.call('HGETALL', KEYS[4]) end
return { tip, floor, cursor, count, max, presence }
`;

/**
 * set_cursor(cursors, inbox, device, seq, fallbackTtlMs) → 1 when moved: moves the cursor forward
 * only. The cursor hash lives at least as long as the inbox: a cursor that vanished before the
 * messages after it would make the device start at the tip and skip them.
 */
export const SET_CURSOR_FN = `
local function set_cursor(cursors, inbox, device, seqArg, fallbackArg)
  local cur = redis.call('HGET', cursors, device)
  if cur and tonumber(cur) >= tonumber(seqArg) then return 0 end
  redis.call('HSET', cursors, device, seqArg)
  local ttl = redis.call('PTTL', inbox)
  local fallback = tonumber(fallbackArg)
  if ttl < fallback then ttl = fallback end
  redis.call('PEXPIRE', cursors, ttl)
  return 1
end
`;

/** KEYS: cursors, inbox; ARGV: device, seq, fallbackTtlMs (set_cursor above). */
export const SET_CURSOR = `${SET_CURSOR_FN}
return set_cursor(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
`;

/**
 * KEYS: idempotency key
 * ARGV: leaseMs
 * Value 'p' = claimed, work pending; 'd' .. result = done. A pending claim
 * expires after the short lease unless its owner renews it (IDEMPOTENCY_RENEW):
 * a node killed between claim and store frees the key within one lease. The
 * done result is written with the full TTL by the owner.
 */
export const IDEMPOTENCY_CLAIM = `
if redis.call('SET', KEYS[1], 'p', 'NX', 'PX', ARGV[1]) then return { 'new' } end
local v = redis.call('GET', KEYS[1])
if v == 'p' then return { 'pending' } end
return { 'done', string.sub(v, 2) }
`;

/**
 * KEYS: idempotency key
 * ARGV: leaseMs
 * Extends a pending claim's lease; leaves a done result (and its TTL) alone.
 */
export const IDEMPOTENCY_RENEW = `
if redis.call('GET', KEYS[1]) == 'p' then return redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 0
`;

/**
 * KEYS: cursors
 * Returns { number of devices with a cursor, highest cursor (0 when none) }.
 */
export const DEVICE_CURSORS = `
local vals = redis.call('HVALS', KEYS[1])
local max = 0
for _, v in ipairs(vals) do
  local n = tonumber(v)
  if n and n > max then max = n end
end
return { #vals, max }
`;

/**
 * KEYS: inbox
 * ARGV: device, after, upTo, now
 * Seq of the oldest unexpired message targeted at the device with
 * after < seq <= upTo, or false. Runs once per never-seen device (its first
 * connect), over at most the retained inbox.
 */
export const FIRST_FOR_DEVICE = `
local device = ARGV[1]
local now = tonumber(ARGV[4])
local start = string.format('(%d-0', tonumber(ARGV[2]))
local stop = string.format('%d-0', tonumber(ARGV[3]))
while true do
  local batch = redis.call('XRANGE', KEYS[1], start, stop, 'COUNT', 256)
  if #batch == 0 then return false end
  for _, e in ipairs(batch) do
    local f = e[2]
    local dev = nil
    local exp = nil
    for j = 1, #f, 2 do
      if f[j] == 'v' then dev = f[j + 1] elseif f[j] == 'x' then exp = tonumber(f[j + 1]) end
    end
    if dev == device and (exp == nil or exp > now) then return tonumber(string.match(e[1], '^(%d+)')) end
  end
  start = '(' .. batch[#batch][1]
end
`;

/**
 * KEYS: hash
 * ARGV: field, json property, expected value
 * Deletes a presence/member entry only when it still belongs to the caller:
 * after a device moved to another connection (or node) the old connection's
 * late removal must not erase the new entry.
 */
export const HDEL_IF = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local ok, rec = pcall(cjson.decode, v)
if ok and type(rec) == 'table' and tostring(rec[ARGV[2]]) ~= ARGV[3] then return 0 end
return redis.call('HDEL', KEYS[1], ARGV[1])
`;

/**
 * KEYS: hash
 * ARGV: field, value, json property, expected value, ttlMs
 * Re-writes a presence/member record this node owns (after a Redis restart
 * lost it, or a reader swept it while this node's liveness key had lapsed),
 * unless the field now belongs to someone else: a device that moved to
 * another node must not be pulled back by a stale restore.
 */
export const HSET_IF_MINE = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  local ok, rec = pcall(cjson.decode, v)
  if ok and type(rec) == 'table' and tostring(rec[ARGV[3]]) ~= ARGV[4] then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`;

/** newest(key, now): the newest message of an inbox that has not expired, or false. */
export const NEWEST_OF = `
local function newest(key, now)
  for _, e in ipairs(redis.call('XREVRANGE', key, '+', '-', 'COUNT', 64)) do
    local f = e[2]
    local exp = nil
    for j = 1, #f, 2 do
      if f[j] == 'x' then exp = tonumber(f[j + 1]) end
    end
    if exp == nil or exp > now then return e end
  end
  return false
end`;

/**
 * KEYS: inbox
 * ARGV: now
 * The newest message that has not expired (or nil): re-announced after a
 * user channel is (re)subscribed, see reannounce.ts.
 */
export const NEWEST = NEWEST_OF + "\nreturn newest(KEYS[1], tonumber(ARGV[1]))\n";

/**
 * KEYS: inboxes (any number; a single Redis or Sentinel only: on Cluster they are other slots)
 * ARGV: now
 * NEWEST of each inbox, in KEYS' order (nil where none): one command for a whole confirmed
 * SUBSCRIBE batch instead of one per user (issue 20).
 */
export const NEWEST_MANY = NEWEST_OF + `
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do out[i] = newest(KEYS[i], now) end
return out
`;

/**
 * A token bucket shared by every node (HTTP API rate limits).
 * KEYS: bucket hash
 * ARGV: rate (tokens/s), burst, cost
 * Returns 0 when the cost was taken, else the ms until it could be.
 * Redis's own clock is used so that nodes with skewed clocks agree.
 */
export const TAKE_TOKENS = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(v[1]) or burst
local at = tonumber(v[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate / 1000)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = math.ceil((cost - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
`;

/** Registers every script on a client as a command (`heraldAppend`, …). */
export function defineScripts(c: RedisClient): void {
  // EVALSHA, EVAL first on each connection and on NOSCRIPT (luaCommand.ts).
  defineLua(c, 'heraldAppend', 4, APPEND);
  defineLua(c, 'heraldReadAfter', 2, READ_AFTER);
  defineLua(c, 'heraldSetCursor', 2, SET_CURSOR);
  defineLua(c, 'heraldIdemClaim', 1, IDEMPOTENCY_CLAIM);
  defineLua(c, 'heraldIdemRenew', 1, IDEMPOTENCY_RENEW);
  defineLua(c, 'heraldDeviceCursors', 1, DEVICE_CURSORS);
  defineLua(c, 'heraldFirstForDevice', 1, FIRST_FOR_DEVICE);
  defineLua(c, 'heraldTakeTokens', 1, TAKE_TOKENS);
  defineLua(c, 'heraldHdelIf', 1, HDEL_IF);
  defineLua(c, 'heraldHsetIfMine', 1, HSET_IF_MINE);
  defineLua(c, 'heraldNewest', 1, NEWEST);
  // The number of keys is the first argument; not on Cluster (reannounce.ts).
  if (!(c as { isCluster?: boolean }).isCluster) defineLua(c, 'heraldNewestMany', -1, NEWEST_MANY);
  defineLua(c, 'heraldConnectReads', 4, CONNECT_READS);
}

