-- Claims the first candidate item not pushed to the user recently for a reserved decision, so two concurrent
-- decisions never push the same item.
-- KEYS[1] pushed items zset (item -> ms pushed)   KEYS[2] decisions hash (uuid -> JSON)
-- ARGV[1] now (ms)   ARGV[2] exclusion period (ms)   ARGV[3] decision uuid   ARGV[4..] candidate items, best first
-- Returns the claimed item id, or false when the decision holds no reservation or every candidate was pushed.
local raw = redis.call('HGET', KEYS[2], ARGV[3])
if not raw then return false end
local now = tonumber(ARGV[1])
local exclusion = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - exclusion))
for j = 4, #ARGV do
  if not redis.call('ZSCORE', KEYS[1], ARGV[j]) then
    redis.call('ZADD', KEYS[1], now, ARGV[j])
    redis.call('PEXPIRE', KEYS[1], exclusion)
    local record = cjson.decode(raw)
    record.i = ARGV[j]
    record.t = now
    redis.call('HSET', KEYS[2], ARGV[3], cjson.encode(record))
    return ARGV[j]
  end
end
return false
