/**
 * The admin user lookup on Redis: one read-only script over the user's keys
 * (one hash tag, so one slot on Cluster). It walks the inbox stream newest
 * first in batches, at most `max` entries (adminInspectMaxMessages: a script
 * blocks Redis while it runs), and counts, per device
 * asked, the held messages above its cursor that the device receives
 * (addressed to the user, or device-targeted at it). Per-message expired
 * entries not trimmed yet are left out, as readers skip them. No data leaves
 * Redis: only counts.
 *
 * KEYS: meta, inbox, cursors. ARGV: now, max, device…
 * Returns { tip, floor, depth, truncated (0|1), cursor1 ('' = none), unacked1, cursor2, … }.
 */
import type { InboxInspection } from '../types.js';

export const INSPECT = `
local now = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local tip = redis.call('HGET', KEYS[1], 'tip') or '0'
local floor = redis.call('HGET', KEYS[1], 'floor') or '0'
local n = #ARGV - 2
local devices, cursors, above, unacked = {}, {}, {}, {}
for i = 1, n do
  devices[i] = ARGV[i + 2]
  cursors[i] = redis.call('HGET', KEYS[3], devices[i]) or ''
  above[i] = tonumber(cursors[i] == '' and '0' or cursors[i])
  unacked[i] = 0
end
local depth, seen, truncated = 0, 0, 0
local start = '+'
while true do
  local batch = redis.call('XREVRANGE', KEYS[2], start, '-', 'COUNT', 512)
  if #batch == 0 then break end
  for _, e in ipairs(batch) do
    if seen >= max then truncated = 1 break end
    seen = seen + 1
    local f = e[2]
    local exp, dev = nil, nil
    for j = 1, #f, 2 do
      if f[j] == 'x' then exp = tonumber(f[j + 1]) elseif f[j] == 'v' then dev = f[j + 1] end
    end
    if exp == nil or exp > now then
      depth = depth + 1
      local seq = tonumber(string.match(e[1], '^(%d+)'))
      for i = 1, n do
        if seq > above[i] and (dev == nil or dev == devices[i]) then unacked[i] = unacked[i] + 1 end
      end
    end
  end
  if truncated == 1 then break end
  start = '(' .. batch[#batch][1]
end
local out = { tip, floor, depth, truncated }
for i = 1, n do
  out[#out + 1] = cursors[i]
  out[#out + 1] = unacked[i]
end
return out
`;

/** Turns the script's flat reply into the engine's answer. */
export function parseInspection(devices: string[], reply: (string | number)[]): InboxInspection {
  return {
    tip: Number(reply[0]),
    floor: Number(reply[1]),
    depth: Number(reply[2]),
    truncated: Number(reply[3]) === 1,
    devices: devices.map((device, i) => {
      const cursor = reply[4 + 2 * i];
      return { device, cursor: cursor === '' || cursor === undefined ? null : Number(cursor), unacked: Number(reply[5 + 2 * i]) };
    }),
  };
}
