-- Releases a reservation whose send failed: out of every rule window, the campaign free to send again, the item
-- pushable again. Idempotent.
-- KEYS[1] sends zset   KEYS[2] decisions hash   KEYS[3] campaigns zset   KEYS[4] pushed items zset
-- ARGV[1] decision uuid
-- Returns 1 when a reservation was released, 0 when there was none (never reserved, released, or expired).
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 0 end
local record = cjson.decode(raw)
redis.call('ZREM', KEYS[1], record.m)
-- Only this decision's marks: a later decision may have marked the same campaign or item since.
if tonumber(redis.call('ZSCORE', KEYS[3], record.c) or '-1') == record.e then
  redis.call('ZREM', KEYS[3], record.c)
end
if record.i and tonumber(redis.call('ZSCORE', KEYS[4], record.i) or '-1') == record.t then
  redis.call('ZREM', KEYS[4], record.i)
end
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
