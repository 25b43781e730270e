-- Decides one message for one user and, when allowed, reserves it in every applicable rule at once (or in none).
-- KEYS[1] user profile hash (fields push = '0' when the user refused pushes, timezone)
-- KEYS[2] sends zset: member "uuid\tflag\tchannel\tcategory" (flag c = counted by caps, x = exempt), score = ms
-- KEYS[3] decisions hash: uuid -> JSON {m = sends member, c = campaignId, e = campaign expiry ms}
-- KEYS[4] campaigns zset: campaignId -> ms until which sending it again is a duplicate
-- ARGV[1] now (ms)            ARGV[2] decision uuid     ARGV[3] channel        ARGV[4] category ('' = none)
-- ARGV[5] campaignId          ARGV[6] duplicate period (ms)
-- ARGV[7] the profile timezone the caller evaluated quiet hours with ('*' = quiet hours do not matter)
-- ARGV[8] '1' when quiet hours hold the message now
-- ARGV[9] '1' to check caps ('0': transactional or admin override)
-- ARGV[10] what to reserve when allowed: 'none' (dry run), 'c' (counted by caps) or 'x' (exempt from caps)
-- ARGV[11] retention (ms): reservations older than this are dropped
-- ARGV[12] n, the number of applicable rules; ARGV[13..12+n] the rules, most restrictive first, one per argument:
--          "channel \t window ms \t limit (priority applied) \t active until ms ('' = none) \t category ('' = every)"
-- Returns {'timezone', actual} when ARGV[7] is not the profile's timezone (nothing checked or reserved), else
-- {reason, blocking rule index (1-based, 0 = none), caps free at (ms; -1 = now, -2 = never), duplicate until
-- (ms, -1 = none), then per rule: counted sends (this one included when reserved), oldest counted send (ms, -1)}.
local now = tonumber(ARGV[1])
local profile = redis.call('HMGET', KEYS[1], 'push', 'timezone')
local timezone = profile[2] or ''
if ARGV[7] ~= '*' and ARGV[7] ~= timezone then
  return {'timezone', timezone}
end

local n = tonumber(ARGV[12])
local ruleChannel, ruleCategory, window, limit, activeUntil = {}, {}, {}, {}, {}
local maxWindow = 0
for i = 1, n do
  local channel, windowMs, ruleLimit, untilMs, category =
    string.match(ARGV[12 + i], '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$')
  ruleChannel[i] = channel
  ruleCategory[i] = category
  window[i] = tonumber(windowMs)
  limit[i] = tonumber(ruleLimit)
  activeUntil[i] = tonumber(untilMs)
  if window[i] > maxWindow then maxWindow = window[i] end
end

-- Counted sends per rule, oldest first.
local times = {}
for i = 1, n do times[i] = {} end
if n > 0 then
  local entries = redis.call('ZRANGEBYSCORE', KEYS[2], string.format('(%.0f', now - maxWindow), '+inf', 'WITHSCORES')
  for j = 1, #entries, 2 do
    local _, _, flag, channel, category = string.find(entries[j], '^[^\t]*\t([^\t]*)\t([^\t]*)\t(.*)$')
    if flag == 'c' then
      local at = tonumber(entries[j + 1])
      for i = 1, n do
        if at > now - window[i]
          and (ruleChannel[i] == 'any' or ruleChannel[i] == channel)
          and (ruleCategory[i] == '' or ruleCategory[i] == category) then
          local list = times[i]
          list[#list + 1] = at
        end
      end
    end
  end
end

-- The binding rule stays full longest; ties go to the more restrictive (earlier) rule.
local blocking, capFreeAt = 0, -1
for i = 1, n do
  local count = #times[i]
  if count >= limit[i] then
    local freeAt = math.huge
    if limit[i] > 0 then freeAt = times[i][count - limit[i] + 1] + window[i] end
    if activeUntil[i] and activeUntil[i] < freeAt then freeAt = activeUntil[i] end
    if blocking == 0 or freeAt > capFreeAt then
      blocking, capFreeAt = i, freeAt
    end
  end
end

local duplicateUntil = tonumber(redis.call('ZSCORE', KEYS[4], ARGV[5]) or '-1')
local reason = 'ok'
if profile[1] == '0' then
  reason = 'no_consent'
elseif duplicateUntil > now then
  reason = 'duplicate_campaign'
elseif ARGV[8] == '1' then
  reason = 'quiet_hours'
elseif ARGV[9] == '1' and blocking > 0 then
  reason = 'cap_exceeded'
end

if reason == 'ok' and ARGV[10] ~= 'none' then
  local retention = tonumber(ARGV[11])
  local member = ARGV[2] .. '\t' .. ARGV[10] .. '\t' .. ARGV[3] .. '\t' .. ARGV[4]
  redis.call('ZADD', KEYS[2], now, member)
  if ARGV[10] == 'c' then
    for i = 1, n do
      local list = times[i]
      list[#list + 1] = now
    end
  end
  -- Drop reservations past retention (a few per call keeps each call short) with their release records.
  local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', string.format('(%.0f', now - retention), 'LIMIT', 0, 16)
  for j = 1, #old do
    redis.call('ZREM', KEYS[2], old[j])
    redis.call('HDEL', KEYS[3], string.match(old[j], '^[^\t]*'))
  end
  local duplicateMs = tonumber(ARGV[6])
  local expiry = now + duplicateMs
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  redis.call('ZADD', KEYS[4], expiry, ARGV[5])
  redis.call('HSET', KEYS[3], ARGV[2], cjson.encode({m = member, c = ARGV[5], e = expiry}))
  redis.call('PEXPIRE', KEYS[2], retention)
  redis.call('PEXPIRE', KEYS[3], math.max(retention, duplicateMs))
  redis.call('PEXPIRE', KEYS[4], duplicateMs)
end

local reply = {reason, blocking, -1, duplicateUntil}
if blocking > 0 then
  if capFreeAt == math.huge then reply[3] = -2 else reply[3] = capFreeAt end
end
for i = 1, n do
  reply[#reply + 1] = #times[i]
  reply[#reply + 1] = times[i][1] or -1
end
return reply
