-- Releases a reservation whose send failed: out of every rule window and the duplicate-campaign check (both read
-- the reservation itself), and its item pushable again. Idempotent.
-- KEYS[1] sends zset (member layout in push-decide.lua)   KEYS[2] pushed items zset (item -> ms pushed)
-- ARGV[1] decision uuid   ARGV[2] the decision's instant (ms), its reservation's score
-- Returns 1 when a reservation was released, 0 when there was none (never reserved, released, or expired).
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])) do
  if string.sub(member, 3, 38) == ARGV[1] then
    redis.call('ZREM', KEYS[1], member)
    local item = string.sub(member, 45 + tonumber(string.sub(member, 39, 41)) + tonumber(string.sub(member, 42, 44)))
    -- Only this decision's mark: a later decision may have pushed the same item since.
    if item ~= '' and tonumber(redis.call('ZSCORE', KEYS[2], item) or '-1') == tonumber(ARGV[2]) then
      redis.call('ZREM', KEYS[2], item)
    end
    return 1
  end
end
return 0
