-- Decides one message for one user and, when allowed, reserves it in every applicable rule at once (or in none).
-- Cluster: every key carries the user's hash tag, so they share one slot.
-- KEYS[1] user profile hash (fields push = '0' when the user refused pushes, timezone)
-- KEYS[2] sends zset, score = reservation ms, member = a reservation (layout and the RESERVATION_* positions used
--         here: push-reservation.ts, which prepends them to this script)
-- KEYS[3] user history: holds an erasure's mark for an hour after the user was erased (live-state.ts
--         `eraseUserLiveState`); read only for a user with no profile and no reservation in the longest window
-- ARGV[1] tab-separated: now (ms), decision uuid, channel code, duplicate period (ms), quiet ('1' when quiet hours
--         hold the message now), check caps ('1'; '0': transactional or admin override), what to reserve when
--         allowed ('none' for a dry run, 'c' counted by caps, 'l' counted by caps and checked at low priority,
--         'o' counted by caps but sent past them by an admin's override, 'x' exempt from caps; the reservation's
--         flag), retention (ms: reservations older than this are
--         dropped; at least the longest window and the duplicate period), n (rules in ARGV[5])
-- ARGV[2] the profile timezone the caller evaluated quiet hours with ('*' = quiet hours do not matter)
-- ARGV[3] campaignId          ARGV[4] category ('' = none)
-- ARGV[5] the n rules: those in force, most restrictive first, then those that start later, concatenated, each:
--         channel code ('*' = any), window ms (10 digits), limit with priority applied (7 digits), active until ms
--         (16 digits, all 0 = no end), starts at ms (16 digits, all 0 = in force: a rule that starts later never
--         refuses now, and counts the sends it will count when it starts), category byte length (3 digits),
--         category ('' = every)
-- Only for a decision the sender may retry (it gave a retry key; never a dry run):
-- KEYS[4] the user's retried decisions, a hash (same hash tag): field 'k' .. retry key = the decision as JSON
--         {at (ms), uuid, fingerprint, timezone, context, outcome (this script's decided reply, as strings), item
--         (the item answer the decision's first claim recorded, push-claim-item.lua: an item's, or the caller's
--         answer for none)}; field 'u' = the minute
--         (ms / 60000) whose first recorded decision last dropped the expired ones
-- ARGV[6] retry key   ARGV[7] fingerprint of the request (a retry must match it: the caller compares)
-- ARGV[8] context (stored as given, for the caller's answer)   ARGV[9] retry period (ms)
-- Returns {'replay', the stored decision (JSON)} when KEYS[4] holds a decision for the retry key made within the
-- retry period and, if it was allowed and for this request (ARGV[7]), still holding its reservation (a released
-- one is decided anew, and the new decision recorded in its place): nothing is checked, reserved or recorded
-- again. Else {'timezone', actual} when
-- ARGV[2] is not the profile's timezone (nothing checked or reserved), else {reason, blocking rule index (1-based,
-- 0 = none), caps free at (ms, by the rules in force; -1 = now, -2 = never), duplicate until (ms, -1 = none), then
-- per rule: counted sends (this one included when reserved), the freeing send: the counted send whose leaving
-- next adds room under the limit, the oldest while there is room, else the (count - limit + 1)th oldest (ms, -1 =
-- none: nothing counted, or a limit of 0)}, also recorded under the retry key when there is one. A user erased
-- within the hour is answered 'no_consent' and nothing is reserved or recorded: a decision in flight during the
-- erasure must not bring their push keys back.
--- @include "history-text"
local nowArg, uuid, messageChannel, duplicateArg, quiet, checkCaps, reserve, retentionArg, countArg = string.match(
  ARGV[1], '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$')
local now = tonumber(nowArg)
local UPKEEP_MS = 60000
local retries, retryField, retryPeriod = KEYS[4], nil, nil
if retries then
  retryField, retryPeriod = 'k' .. ARGV[6], tonumber(ARGV[9])
  local stored = redis.call('HGET', retries, retryField)
  if stored then
    local recorded = cjson.decode(stored)
    local answered = tonumber(recorded.at) > now - retryPeriod
    -- An allowed decision is answered again only while it holds its reservation: once released (its send
    -- failed), its slot may be anyone's, and the key decides anew. Another request with the key is answered the
    -- recorded decision all the same, which the caller refuses as the key's reuse, deciding nothing.
    if answered and recorded.outcome[1] == 'ok' and recorded.fingerprint == ARGV[7] then
      answered = false
      for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], recorded.at, recorded.at)) do
        if string.sub(member, RESERVATION_UUID_FIRST, RESERVATION_UUID_LAST) == recorded.uuid then answered = true end
      end
    end
    if answered then return {'replay', stored} end
  end
end
local profile = redis.call('HMGET', KEYS[1], 'push', 'timezone')
local timezone = profile[2] or ''
if ARGV[2] ~= '*' and ARGV[2] ~= timezone then
  return {'timezone', timezone}
end
local campaign, messageCategory = ARGV[3], ARGV[4]
local duplicateMs = tonumber(duplicateArg)

local sub, byte, find = string.sub, string.byte, string.find
local ANY = byte('*')
local n = tonumber(countArg)
local ruleChannel, ruleCategory, windowStart, window, limit, activeUntil = {}, {}, {}, {}, {}, {}
-- Rules that start later (true): counted from their start, never refusing now.
local startsLater = {}
local lookback = duplicateMs
local rules, position = ARGV[5], 1
for i = 1, n do
  ruleChannel[i] = byte(rules, position)
  window[i] = tonumber(sub(rules, position + 1, position + 10))
  windowStart[i] = now - window[i]
  limit[i] = tonumber(sub(rules, position + 11, position + 17))
  local untilMs = tonumber(sub(rules, position + 18, position + 33))
  if untilMs > 0 then activeUntil[i] = untilMs end
  local startsAt = tonumber(sub(rules, position + 34, position + 49))
  if startsAt > 0 then
    startsLater[i] = true
    windowStart[i] = startsAt - window[i]
  end
  local categoryStart = position + 53
  position = categoryStart + tonumber(sub(rules, position + 50, position + 52))
  ruleCategory[i] = sub(rules, categoryStart, position - 1)
  if now - windowStart[i] > lookback then lookback = now - windowStart[i] end
end

-- Counted sends per rule, oldest first.
local times = {}
for i = 1, n do times[i] = {} end
-- The newest reservation of any kind seen (ms, -1 = none seen).
local newest = -1
-- Until when this campaign is a duplicate (ms, -1 = it is not).
local duplicateUntil = -1
local duplicateFrom = now - duplicateMs
local campaignLengthText = string.format('%03d', #campaign)
local campaignDigit1, campaignDigit2, campaignDigit3 = byte(campaignLengthText, 1, 3)
-- Every reservation but an exempt one counts: 'c', 'l' (low priority) and 'o' (an override, which counts like any
-- other send).
local EXEMPT = byte('x')
local CAMPAIGN_START = RESERVATION_HEAD + 1
-- Fields are compared as bytes and found in place (string.find, plain): the scan makes no new strings.
local entries = redis.call('ZRANGEBYSCORE', KEYS[2], string.format('(%.0f', now - lookback), '+inf', 'WITHSCORES')
for j = 1, #entries, 2 do
  local member = entries[j]
  local at = tonumber(entries[j + 1])
  if at > newest then newest = at end
  local flag, channel = byte(member, 1, 2)
  local c1, c2, c3, g1, g2, g3 = byte(member, RESERVATION_CAMPAIGN_LENGTH, RESERVATION_CATEGORY_LENGTH + 2)
  if at > duplicateFrom and c1 == campaignDigit1 and c2 == campaignDigit2 and c3 == campaignDigit3
      and find(member, campaign, CAMPAIGN_START, true) == CAMPAIGN_START then
    duplicateUntil = at + duplicateMs
  end
  if flag ~= EXEMPT then
    local categoryStart = CAMPAIGN_START + (c1 - 48) * 100 + (c2 - 48) * 10 + c3 - 48
    local categoryLength = (g1 - 48) * 100 + (g2 - 48) * 10 + g3 - 48
    for i = 1, n do
      if at > windowStart[i] and (ruleChannel[i] == ANY or ruleChannel[i] == channel) then
        local wanted = ruleCategory[i]
        if wanted == '' or (#wanted == categoryLength and find(member, wanted, categoryStart, true) == categoryStart) then
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
  if not startsLater[i] and count >= limit[i] then
    local freeAt = math.huge
    if limit[i] > 0 then freeAt = times[i][count - limit[i] + 1] + window[i] end
    if activeUntil[i] and activeUntil[i] < freeAt then freeAt = activeUntil[i] end
    if blocking == 0 or freeAt > capFreeAt then
      blocking, capFreeAt = i, freeAt
    end
  end
end

-- An erasure deletes the profile and the sends; a user who came back after it has a profile again.
local erased = false
if not profile[1] and not profile[2] and #entries == 0 then
  erased = isErasureMark(redis.pcall('GETRANGE', KEYS[3], 0, 0))
end

local reason = 'ok'
if erased or profile[1] == '0' then
  reason = 'no_consent'
elseif duplicateUntil > now then
  reason = 'duplicate_campaign'
elseif quiet == '1' then
  reason = 'quiet_hours'
elseif checkCaps == '1' and blocking > 0 then
  reason = 'cap_exceeded'
end

if reason == 'ok' and reserve ~= 'none' then
  redis.call('ZADD', KEYS[2], now, reserve .. messageChannel .. uuid .. campaignLengthText
    .. string.format('%03d', #messageCategory) .. campaign .. messageCategory)
  if reserve ~= 'x' then
    -- Oldest first still: a decision whose clock is behind counted reservations (another api process's clock
    -- runs ahead, or this one's stepped back) goes before them.
    for i = 1, n do
      if not startsLater[i] then
        local list = times[i]
        local k = #list
        while k > 0 and list[k] > now do k = k - 1 end
        table.insert(list, k + 1, now)
      end
    end
  end
  -- Upkeep (dropping old reservations, extending the key's life) once per user and minute, not per reservation:
  -- the first reservation of a minute sets the key to expire a full retention after that minute ends, which
  -- covers every later reservation of the same minute. A reservation of this minute already seen means that was
  -- done.
  local bucket = math.floor(now / UPKEEP_MS)
  if newest < 0 or math.floor(newest / UPKEEP_MS) ~= bucket then
    local retention = tonumber(retentionArg)
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('(%.0f', now - retention))
    -- Relative to the caller's clock, as every instant here: what is left of the minute, then the retention.
    redis.call('PEXPIRE', KEYS[2], string.format('%.0f', (bucket + 1) * UPKEEP_MS - now + retention))
  end
end

local reply = {reason, blocking, -1, duplicateUntil}
if blocking > 0 then
  if capFreeAt == math.huge then reply[3] = -2 else reply[3] = capFreeAt end
end
for i = 1, n do
  local count = #times[i]
  reply[#reply + 1] = count
  local freeing = count - limit[i] + 1
  if freeing < 1 then freeing = 1 end
  reply[#reply + 1] = times[i][freeing] or -1
end

if retries and reserve ~= 'none' and not erased then
  -- Numbers as whole-number strings: cjson writes numbers with 14 significant digits, and an instant has up to 16.
  local outcome = {}
  for i = 1, #reply do
    if type(reply[i]) == 'number' then outcome[i] = string.format('%.0f', reply[i]) else outcome[i] = reply[i] end
  end
  redis.call('HSET', retries, retryField, cjson.encode({at = nowArg, uuid = uuid, fingerprint = ARGV[7],
    timezone = timezone, context = ARGV[8], outcome = outcome}))
  -- Expired decisions are dropped by the first recorded decision of each minute, which also sets the hash to
  -- expire a full retry period after that minute ends (covering every decision recorded in the minute).
  local bucket = math.floor(now / UPKEEP_MS)
  local minute = string.format('%.0f', bucket)
  if redis.call('HGET', retries, 'u') ~= minute then
    local fields = redis.call('HGETALL', retries)
    local K = byte('k')
    for j = 1, #fields, 2 do
      if byte(fields[j], 1) == K and tonumber(cjson.decode(fields[j + 1]).at) <= now - retryPeriod then
        redis.call('HDEL', retries, fields[j])
      end
    end
    redis.call('HSET', retries, 'u', minute)
    redis.call('PEXPIRE', retries, string.format('%.0f', (bucket + 1) * UPKEEP_MS - now + retryPeriod))
  end
end
return reply
