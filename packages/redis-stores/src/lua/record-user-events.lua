-- Applies newly committed events to their users' live state, many users in one call (one command per group of
-- events on a standalone server, per slot on a cluster, where one command per user cost Redis and ingest more
-- than the writes themselves): per user the recent history, newest first and capped, and the purchased set;
-- then the new stamp of every user whose writes succeeded, after the data, so a reader that sees the new stamp
-- reads the new data. A user's failing write (a key of another type) stops only that user's writes.
-- Cluster: every key of one call in one slot (each user's keys share a hash tag; the caller groups by slot).
-- KEYS[3u-2], KEYS[3u-1], KEYS[3u]  user u's history list, purchased set and stamp string (n users: 3n keys)
-- ARGV[1] the new stamp   ARGV[2] history cap
-- ARGV[1+2u], ARGV[2+2u]  user u's counts: h >= 1 history entries, p purchased item ids
-- ARGV[3+2n ..] per user in order: h history entries, oldest first (at most the cap), then p purchased item ids
-- Returns n, or the first failing write's error once every other user's writes are done.
local users = #KEYS / 3
local cap = tonumber(ARGV[2])
local at = 3 + 2 * users
-- unpack has a stack limit: purchases and stamps go in slices well under it.
local SLICE = 1000
local failure = nil
local stamps = {}
local failed = function(reply)
  if type(reply) == 'table' and reply.err then
    failure = failure or reply.err
    return true
  end
  return false
end
for u = 1, users do
  local h = tonumber(ARGV[1 + 2 * u])
  local p = tonumber(ARGV[2 + 2 * u])
  local history = KEYS[3 * u - 2]
  local length = redis.pcall('LPUSH', history, unpack(ARGV, at, at + h - 1))
  local ok = not failed(length)
  if ok and length > cap then ok = not failed(redis.pcall('LTRIM', history, 0, cap - 1)) end
  at = at + h
  for first = at, at + p - 1, SLICE do
    if ok then
      ok = not failed(redis.pcall('SADD', KEYS[3 * u - 1], unpack(ARGV, first, math.min(first + SLICE - 1, at + p - 1))))
    end
  end
  at = at + p
  if ok then
    stamps[#stamps + 1] = KEYS[3 * u]
    stamps[#stamps + 1] = ARGV[1]
  end
  if #stamps >= SLICE or (u == users and #stamps > 0) then
    redis.call('MSET', unpack(stamps))
    stamps = {}
  end
end
if failure then return redis.error_reply(failure) end
return users
