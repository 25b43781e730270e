--[[
  Writes what a rebuild read of Postgres that one user counted of trending in the hours the api reads (live-state.ts
  `replaceTrendingCounted`, `elevens events rebuild-live-state`) into their counted hashes, as record-user-events.lua
  keeps them (field '': the hour; per item the weight of the user's heaviest event type), so their events after the
  rebuild add only what they add above it. Checked and written in one step, so nothing ingest or the user routes
  do for the user falls between the two:
  - a user erased within the hour (the history key holds the erasure's mark) gets nothing written: the read may
    predate the erasure, and must leave no key naming what they saw;
  - a user whose profile holds withdrawn personalization consent gets both hashes deleted (as the withdrawal did);
  - per hour, a hash holding that hour keeps per item the heavier of its weight and the read one (ingest may have
    counted the user's events since the read), one holding an older hour or nothing is replaced and lives ARGV[1]
    seconds (as record-user-events.lua's), and one holding a newer hour is left as it is.
  A key of another type in a hash's place is replaced.
  Cluster: the four keys carry the user's hash tag, so they share one slot.
  KEYS[1] user:{id}:history             string: the history's text, or an erasure's mark '~erased:…' (read only)
  KEYS[2] user:{id}:profile             hash (field personalization '0' once withdrawn; read only)
  KEYS[3] user:{id}:trending-counted:0  hash of the user's even hour
  KEYS[4] user:{id}:trending-counted:1  hash of the user's odd hour
  ARGV[1] seconds a hash lives after it takes a new hour
  ARGV[2 ..] per hour: the epoch hour, n, then n pairs of item id and weight
  Returns 1 written, 0 nothing written (erasure's mark), 2 both hashes deleted (consent withdrawn).
]]
--- @include "history-text"

if redis.call('TYPE', KEYS[1]).ok == 'string' and isErasureMark(redis.call('GETRANGE', KEYS[1], 0, 0)) then
  return 0
end
if redis.call('HGET', KEYS[2], 'personalization') == '0' then
  redis.call('UNLINK', KEYS[3], KEYS[4])
  return 2
end

local ttl = ARGV[1]
-- unpack has a stack limit: fields go in slices well under it.
local SLICE = 1000

-- Writes the n pairs ARGV[from ..] of `hour` into `key`.
local function writeHour(key, hour, from, n)
  local keyType = redis.call('TYPE', key).ok
  local heldHour = keyType == 'hash' and redis.call('HGET', key, '')
  if heldHour and (tonumber(heldHour) or -math.huge) > tonumber(hour) then return end
  local fields = {}
  if heldHour == hour then
    for first = 0, n - 1, SLICE do
      local last = math.min(first + SLICE, n) - 1
      local names = {}
      for i = first, last do names[#names + 1] = ARGV[from + 2 * i] end
      local held = redis.call('HMGET', key, unpack(names))
      for i = first, last do
        local weight = ARGV[from + 2 * i + 1]
        if tonumber(weight) > (tonumber(held[i - first + 1]) or 0) then
          fields[#fields + 1] = ARGV[from + 2 * i]
          fields[#fields + 1] = weight
        end
      end
    end
  else
    if keyType ~= 'none' then redis.call('DEL', key) end
    fields[1], fields[2] = '', hour
    for i = from, from + 2 * n - 1 do fields[#fields + 1] = ARGV[i] end
  end
  for first = 1, #fields, SLICE do
    redis.call('HSET', key, unpack(fields, first, math.min(first + SLICE - 1, #fields)))
  end
  if heldHour ~= hour then redis.call('EXPIRE', key, ttl) end
end

local at = 2
while at <= #ARGV do
  local hour, n = ARGV[at], tonumber(ARGV[at + 1])
  writeHour(tonumber(hour) % 2 == 0 and KEYS[3] or KEYS[4], hour, at + 2, n)
  at = at + 2 + 2 * n
end
return 1
