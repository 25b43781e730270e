--[[
  indexReply(indexKey, queryKey, lifeMs): records in the user's reply index (keys/core.ts `userReplyIndex`, a
  sorted set) that their userReply key of `queryKey` was just written to live `lifeMs`, so an erasure finds every
  such key without a scan. A member's score is a time (ms, Redis's clock) the key expires by: set to twice its life
  ahead, so the writes of a query during the next `lifeMs` (a mark per read of a shopper who sends an event before
  each) only read it. A query key new to the index drops the members expired before now (a known one only moves
  its score: the index does not grow), so it holds no more than the keys living then and the one added. The index
  lives as long as its latest score. Call it in the script that writes the userReply key (the index's slot is the
  user's). Needs Redis 7 (PEXPIRE NX, GT).
]]
local function indexReply(indexKey, queryKey, lifeMs)
  local time = redis.call('TIME')
  local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local indexedUntil = redis.call('ZSCORE', indexKey, queryKey)
  if indexedUntil and tonumber(indexedUntil) >= nowMs + lifeMs then return end
  if redis.call('ZADD', indexKey, string.format('%.0f', nowMs + 2 * lifeMs), queryKey) == 1 then
    redis.call('ZREMRANGEBYSCORE', indexKey, '-inf', string.format('(%.0f', nowMs))
    -- A new index has no TTL, which GT never replaces.
    redis.call('PEXPIRE', indexKey, 2 * lifeMs, 'NX')
  end
  redis.call('PEXPIRE', indexKey, 2 * lifeMs, 'GT')
end
