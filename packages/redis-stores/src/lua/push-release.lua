-- Releases a reservation whose send failed: out of every rule window and the duplicate-campaign check (both read
-- the reservation itself), and its item pushable again. Idempotent.
-- Cluster: both keys carry the user's hash tag, so they share one slot.
-- KEYS[1] sends zset (reservation layout and RESERVATION_* positions: push-reservation.ts, prepended)
-- KEYS[2] pushed items zset (item -> ms pushed)
-- ARGV[1] decision uuid   ARGV[2] the decision's instant (ms), its reservation's score
-- Returns {channel code, campaign} of the reservation released, for the decision counts; 0 when there was none
-- (never reserved, released, or expired).
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])) do
  if string.sub(member, RESERVATION_UUID_FIRST, RESERVATION_UUID_LAST) == ARGV[1] then
    redis.call('ZREM', KEYS[1], member)
    local campaignEnd = RESERVATION_HEAD
      + tonumber(string.sub(member, RESERVATION_CAMPAIGN_LENGTH, RESERVATION_CAMPAIGN_LENGTH + 2))
    local item = string.sub(member, campaignEnd + 1
      + tonumber(string.sub(member, RESERVATION_CATEGORY_LENGTH, RESERVATION_CATEGORY_LENGTH + 2)))
    -- Only this decision's mark: a later decision may have pushed the same item since.
    if item ~= '' and tonumber(redis.call('ZSCORE', KEYS[2], item) or '-1') == tonumber(ARGV[2]) then
      redis.call('ZREM', KEYS[2], item)
    end
    -- The channel code is the reservation's second byte.
    return {string.sub(member, 2, 2), string.sub(member, RESERVATION_HEAD + 1, campaignEnd)}
  end
end
return 0
