-- Decides one message for one user and, when allowed, reserves it in every applicable rule at once (or in none).
-- KEYS[1] user profile hash (fields push = '0' when the user refused pushes, timezone)
-- KEYS[2] sends zset: member "uuid\tflag\tchannel\tcategory" (flag c = counted by caps, x = exempt), score = ms
-- KEYS[3] decisions hash: uuid -> JSON {m = sends member, c = campaignId, e = campaign expiry ms}
-- KEYS[4] campaigns zset: campaignId -> ms until which sending it again is a duplicate
-- ARGV[1] tab-separated: now (ms), decision uuid, channel, duplicate period (ms), quiet ('1' when quiet hours hold
--         the message now), check caps ('1'; '0': transactional or admin override), what to reserve when allowed
--         ('none' for a dry run, 'c' counted by caps, 'x' exempt from caps), retention (ms: reservations older
--         than this are dropped), n (the number of applicable rules)
-- ARGV[2] the profile timezone the caller evaluated quiet hours with ('*' = quiet hours do not matter)
-- ARGV[3] campaignId          ARGV[4] category ('' = none)
-- ARGV[5] the n rules, most restrictive first, concatenated, each "channel \t window ms \t limit (priority
--         applied) \t active until ms ('' = none) \t category byte length \t category ('' = every)"
-- Returns {'timezone', actual} when ARGV[2] is not the profile's timezone (nothing checked or reserved), else
-- {reason, blocking rule index (1-based, 0 = none), caps free at (ms; -1 = now, -2 = never), duplicate until
-- (ms, -1 = none), then per rule: counted sends (this one included when reserved), oldest counted send (ms, -1)}.
local nowArg, uuid, messageChannel, duplicateArg, quiet, checkCaps, reserve, retentionArg, countArg = string.match(
  ARGV[1], '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$')
local now = tonumber(nowArg)
local UPKEEP_MS = 60000
local profile = redis.call('HMGET', KEYS[1], 'push', 'timezone')
local timezone = profile[2] or ''
if ARGV[2] ~= '*' and ARGV[2] ~= timezone then
  return {'timezone', timezone}
end
local campaign, messageCategory = ARGV[3], ARGV[4]

local n = tonumber(countArg)
local ruleChannel, ruleCategory, window, limit, activeUntil = {}, {}, {}, {}, {}
local maxWindow = 0
local rules, position = ARGV[5], 1
for i = 1, n do
  local _, last, channel, windowMs, ruleLimit, untilMs, categoryLength =
    string.find(rules, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t', position)
  position = last + tonumber(categoryLength) + 1
  ruleChannel[i] = channel
  ruleCategory[i] = string.sub(rules, last + 1, position - 1)
  window[i] = tonumber(windowMs)
  limit[i] = tonumber(ruleLimit)
  activeUntil[i] = tonumber(untilMs)
  if window[i] > maxWindow then maxWindow = window[i] end
end

-- Counted sends per rule, oldest first.
local times = {}
for i = 1, n do times[i] = {} end
-- The newest reservation of any kind seen (ms, -1 = none seen).
local newest = -1
if n > 0 then
  local entries = redis.call('ZRANGEBYSCORE', KEYS[2], string.format('(%.0f', now - maxWindow), '+inf', 'WITHSCORES')
  for j = 1, #entries, 2 do
    local _, _, flag, channel, category = string.find(entries[j], '^[^\t]*\t([^\t]*)\t([^\t]*)\t(.*)$')
    local at = tonumber(entries[j + 1])
    if at > newest then newest = at end
    if flag == 'c' then
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

local duplicateUntil = tonumber(redis.call('ZSCORE', KEYS[4], campaign) or '-1')
local reason = 'ok'
if profile[1] == '0' then
  reason = 'no_consent'
elseif duplicateUntil > now then
  reason = 'duplicate_campaign'
elseif quiet == '1' then
  reason = 'quiet_hours'
elseif checkCaps == '1' and blocking > 0 then
  reason = 'cap_exceeded'
end

if reason == 'ok' and reserve ~= 'none' then
  local retention = tonumber(retentionArg)
  local member = uuid .. '\t' .. reserve .. '\t' .. messageChannel .. '\t' .. messageCategory
  redis.call('ZADD', KEYS[2], now, member)
  if reserve == 'c' then
    for i = 1, n do
      local list = times[i]
      list[#list + 1] = now
    end
  end
  local duplicateMs = tonumber(duplicateArg)
  local expiry = now + duplicateMs
  -- Upkeep (dropping old entries, extending the keys' lives) once per user and minute, not per reservation:
  -- the first reservation of a minute sets the keys to expire a full period after that minute ends, which covers
  -- every later reservation of the same minute. A reservation of this minute already seen means that was done.
  local bucket = math.floor(now / UPKEEP_MS)
  local upkeep = newest < 0 or math.floor(newest / UPKEEP_MS) ~= bucket
  if upkeep then
    -- Reservations past retention go with their release records (at most 64 per upkeep keeps each call short).
    local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', string.format('(%.0f', now - retention), 'LIMIT', 0, 64)
    if #old > 0 then
      local uuids = {}
      for j = 1, #old do uuids[j] = string.match(old[j], '^[^\t]*') end
      redis.call('ZREM', KEYS[2], unpack(old))
      redis.call('HDEL', KEYS[3], unpack(uuids))
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', string.format('%.0f', now))
  end
  redis.call('ZADD', KEYS[4], expiry, campaign)
  redis.call('HSET', KEYS[3], uuid, cjson.encode({m = member, c = campaign, e = expiry}))
  if upkeep then
    -- Relative to the caller's clock, as every instant here: what is left of the minute, then the period.
    local rest = (bucket + 1) * UPKEEP_MS - now
    redis.call('PEXPIRE', KEYS[2], string.format('%.0f', rest + retention))
    redis.call('PEXPIRE', KEYS[3], string.format('%.0f', rest + math.max(retention, duplicateMs)))
    redis.call('PEXPIRE', KEYS[4], string.format('%.0f', rest + duplicateMs))
  end
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
