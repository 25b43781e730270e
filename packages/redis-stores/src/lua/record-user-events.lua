-- Applies one user's newly committed events to their live state in one call (one command per user instead of
-- three or four): the recent history, newest first and capped, the purchased set, then a new stamp, after the
-- data, so a reader that sees the new stamp reads the new data.
-- KEYS[1] history list   KEYS[2] purchased set   KEYS[3] stamp string
-- ARGV[1] the new stamp   ARGV[2] history cap   ARGV[3] h, the number of history entries that follow
-- ARGV[4 .. 3+h] history entries, oldest first (at most the cap)   ARGV[4+h ..] purchased item ids
-- Returns 1.
local cap = tonumber(ARGV[2])
local h = tonumber(ARGV[3])
redis.call('LPUSH', KEYS[1], unpack(ARGV, 4, 3 + h))
redis.call('LTRIM', KEYS[1], 0, cap - 1)
-- unpack has a stack limit; purchases come in slices well under it.
for first = 4 + h, #ARGV, 1000 do
  redis.call('SADD', KEYS[2], unpack(ARGV, first, math.min(first + 999, #ARGV)))
end
redis.call('SET', KEYS[3], ARGV[1])
return 1
