-- Claims the first candidate item not pushed to the user recently for a reserved decision, so two concurrent
-- decisions never push the same item. The item is recorded in the reservation, for release.
-- Cluster: both keys carry the user's hash tag, so they share one slot.
-- KEYS[1] pushed items zset (item -> ms pushed)
-- KEYS[2] sends zset (reservation layout and RESERVATION_* positions: push-reservation.ts, prepended)
-- ARGV[1] the decision's instant (ms), its reservation's score   ARGV[2] exclusion period (ms)
-- ARGV[3] decision uuid   ARGV[4..] candidate items, best first
-- Returns the claimed item id, or false when the decision holds no reservation, already claimed an item, or every
-- candidate was pushed.
local reservation
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], ARGV[1])) do
  if string.sub(member, RESERVATION_UUID_FIRST, RESERVATION_UUID_LAST) == ARGV[3] then reservation = member end
end
if not reservation then return false end
local itemStart = RESERVATION_HEAD + 1
  + tonumber(string.sub(reservation, RESERVATION_CAMPAIGN_LENGTH, RESERVATION_CAMPAIGN_LENGTH + 2))
  + tonumber(string.sub(reservation, RESERVATION_CATEGORY_LENGTH, RESERVATION_CATEGORY_LENGTH + 2))
if itemStart <= #reservation then return false end
local now = tonumber(ARGV[1])
local exclusion = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - exclusion))
for j = 4, #ARGV do
  if not redis.call('ZSCORE', KEYS[1], ARGV[j]) then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[j])
    redis.call('PEXPIRE', KEYS[1], exclusion)
    redis.call('ZREM', KEYS[2], reservation)
    redis.call('ZADD', KEYS[2], ARGV[1], reservation .. ARGV[j])
    return ARGV[j]
  end
end
return false
