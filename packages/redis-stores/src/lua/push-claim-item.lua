-- Claims the first candidate item not pushed to the user recently for a reserved decision, so two concurrent
-- decisions never push the same item. The item is recorded in the reservation, for release.
-- Cluster: every key carries the user's hash tag, so they share one slot.
-- KEYS[1] pushed items zset (item -> ms pushed)
-- KEYS[2] sends zset (reservation layout and RESERVATION_* positions: push-reservation.ts, prepended)
-- KEYS[3] only for a decision the sender may retry: its retried decisions hash (push-decide.lua)
-- ARGV[1] the decision's instant (ms), its reservation's score   ARGV[2] exclusion period (ms)
-- ARGV[3] decision uuid
-- Without KEYS[3]: ARGV[4..] candidate items, best first. Returns the claimed item id, or false when the decision
-- holds no reservation, already claimed an item, or every candidate was pushed.
-- With KEYS[3]: ARGV[4] retry key, ARGV[5] the caller's answer when the decision gets no item (every candidate
-- pushed, or none given), then per candidate, best first, two arguments: item id, the item as the caller answers
-- it. The first claim of the decision records its answer in the retried decision, ARGV[5] when it claimed none, and
-- every later claim returns that answer, claiming nothing: a retry answers what the first attempt answered. Returns
-- the answer recorded, or, when the retry key names another decision now, the claimed item's answer, false if none;
-- false when the decision holds no reservation.
local retries = KEYS[3]
local first, step = 4, 1
if retries then first, step = 6, 2 end

-- The decision recorded under the retry key, if it is this one (the retry key may since name a newer decision).
local function retried()
  local stored = redis.call('HGET', retries, 'k' .. ARGV[4])
  if not stored then return nil end
  local decision = cjson.decode(stored)
  if decision.uuid ~= ARGV[3] then return nil end
  return decision
end

local reservation
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], ARGV[1])) do
  if string.sub(member, RESERVATION_UUID_FIRST, RESERVATION_UUID_LAST) == ARGV[3] then reservation = member end
end
if not reservation then return false end
local decision = retries and retried()
if decision and decision.item then return decision.item end
local itemStart = RESERVATION_HEAD + 1
  + tonumber(string.sub(reservation, RESERVATION_CAMPAIGN_LENGTH, RESERVATION_CAMPAIGN_LENGTH + 2))
  + tonumber(string.sub(reservation, RESERVATION_CATEGORY_LENGTH, RESERVATION_CATEGORY_LENGTH + 2))
if itemStart <= #reservation then return false end
local now = tonumber(ARGV[1])
local exclusion = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - exclusion))
for j = first, #ARGV, step do
  if not redis.call('ZSCORE', KEYS[1], ARGV[j]) then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[j])
    redis.call('PEXPIRE', KEYS[1], exclusion)
    -- Removing a user's only reservation deletes the key, and the ZADD makes it anew without the expiry
    -- push-decide.lua set: it would be kept for ever unless another reservation came in a later minute.
    local ttl = redis.call('PTTL', KEYS[2])
    redis.call('ZREM', KEYS[2], reservation)
    redis.call('ZADD', KEYS[2], ARGV[1], reservation .. ARGV[j])
    if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
    if not retries then return ARGV[j] end
    if decision then
      decision.item = ARGV[j + 1]
      redis.call('HSET', retries, 'k' .. ARGV[4], cjson.encode(decision))
    end
    return ARGV[j + 1]
  end
end
if not decision then return false end
decision.item = ARGV[5]
redis.call('HSET', retries, 'k' .. ARGV[4], cjson.encode(decision))
return ARGV[5]
