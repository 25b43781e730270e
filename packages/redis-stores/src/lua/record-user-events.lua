-- Applies newly committed events to their users' live state, many users in one call (one command per group of
-- events on a standalone server, per slot on a cluster, where one command per user cost Redis and ingest more
-- than the writes themselves): per user the recent history, capped, and the purchased set;
-- then the new stamp of every user whose writes succeeded, after the data, so a reader that sees the new stamp
-- reads the new data. A user's failing write (a key of another type) stops only that user's writes.
-- A history is one string, its stored text (history-text.ts): the entry count in six digits and a newline, then
-- the entries oldest first, each with a newline after it; a write appends, and a read is one GET. A list (the
-- layout before the text) is rewritten as the text at the user's next event.
-- The history holds a user's newest events by time, events of one millisecond in the order they arrived (the
-- order they happened in; the recommender weighs a history by position), whatever order the batches come in: a
-- batch none of whose events is older than the stored newest entry (the usual case) is appended after it; one
-- that reaches back before it (an SDK's retry after an outage, a backfill) is merged into the stored entries
-- newer than its oldest (the text's tail, rewritten in place), each of its events after the stored ones of the
-- same time. A user erased within the hour (the history
-- key holds the erasure's mark, live-state.ts `eraseUserLiveState`) gets nothing written: these are events the
-- erasure deleted from Postgres, committed before it, whose write reached Redis after it.
-- Trending: a user counts at most once per item and hour, by the heaviest type of their events (as the build's
-- trending list counts shoppers): the user's counted hash of the hour's parity holds, while it names that hour
-- (field ''; no item id is empty), the weight already counted per item, and the call answers only what its events
-- add above it, which the caller adds to the hour's counter (add-trending.lua: another slot). A new hour replaces
-- the one two before it in its hash, so the hashes hold the user's newest hour and the one before, the hours the
-- api reads; an event of an older hour is bounded within the call only. An erased user's events count nothing.
-- Cluster: every key of one call in one slot (each user's keys share a hash tag; the caller groups by slot).
-- KEYS[5u-4] .. KEYS[5u]  user u's history, purchased set, stamp string, counted hashes of even and odd hours
-- (n users: 5n keys)
-- ARGV[1] the new stamp   ARGV[2] history cap   ARGV[3] seconds a counted hash lives after it takes a new hour
-- ARGV[1+3u], ARGV[2+3u], ARGV[3+3u]  user u's counts: h >= 1 history entries (at most the cap), p purchased item
-- ids, t trending events
-- ARGV[4+3n ..] per user in order: h history entries, oldest first by time (events of one time in the order they
-- arrived), then p purchased item ids, then t trending events of three values each: epoch hour, weight, item id
-- Returns the first failing write's error text ('' when none) once every user's writes are done, then the
-- trending increments: user (u, 1-based), epoch hour, weight, item id each (the user named, so the caller can send
-- the hour a user's heaviest weight instead, live-state.ts `sendLiveEvents`).
-- The stamp is new to each call: when the first user's stamp already holds it, this call has run before (the
-- client sent it again after a lost connection took its reply) and changes nothing; it answers no increments
-- (the first run's went with its lost reply: a lost connection can leave a group's counts out, never count them
-- twice).
local users = #KEYS / 5
if redis.pcall('GET', KEYS[3]) == ARGV[1] then return { '' } end
local cap = tonumber(ARGV[2])
local countedTtl = ARGV[3]
local at = 4 + 3 * users
-- unpack has a stack limit: purchases and stamps go in slices well under it.
local SLICE = 1000
local failure = nil
local stamps = {}
local function isError(reply)
  return type(reply) == 'table' and reply.err ~= nil
end
local failed = function(reply)
  if isError(reply) then
    failure = failure or reply.err
    return true
  end
  return false
end

--- @include "history-text"

-- A list of the layout before rewritten as the text; its entry count.
local function rewriteList(key)
  local entries = redis.pcall('LRANGE', key, 0, cap - 1)
  if isError(entries) then return entries end
  local written = redis.pcall('SET', key, listAsHistory(entries))
  if isError(written) then return written end
  return #entries
end

-- An entry's time: the integer before its closing bracket (-inf when it has none: no reader uses such an entry).
local function timeOf(entry)
  return tonumber(string.match(entry, ',(%-?%d+)%]$')) or -math.huge
end

-- The key's stored entries and the batch ARGV[from .. from + h - 1] (oldest first) merged by time, the newest
-- `cap` of them written as the key's text; of entries of one time, the stored ones (they arrived first) come
-- before the batch's. Stored entries out of time order (written before histories were kept in order) are put in
-- order first, entries of one time as they were stored.
local function mergeHistory(key, from, h)
  local text = redis.pcall('GET', key)
  if isError(text) then return text end
  local stored, times = {}, {}
  local sorted = true
  for entry in string.gmatch(string.sub(text, 8), '([^\n]*)\n') do
    local n = #stored + 1
    stored[n], times[n] = entry, timeOf(entry)
    if n > 1 and times[n] < times[n - 1] then sorted = false end
  end
  if not sorted then
    local order = {}
    for n = 1, #stored do order[n] = n end
    -- table.sort is not stable: entries of one time keep their stored order by their index.
    table.sort(order, function(a, b)
      if times[a] ~= times[b] then return times[a] < times[b] end
      return a < b
    end)
    local inOrder, timesInOrder = {}, {}
    for n = 1, #order do inOrder[n], timesInOrder[n] = stored[order[n]], times[order[n]] end
    stored, times = inOrder, timesInOrder
  end
  -- From the newest end of both: each step keeps the newer of the two candidates, the batch's of one time.
  local kept = {}
  local s, a = #stored, from + h - 1
  local aMs = timeOf(ARGV[a])
  while #kept < cap and (s >= 1 or a >= from) do
    if a < from or (s >= 1 and times[s] > aMs) then
      kept[#kept + 1] = stored[s]
      s = s - 1
    else
      kept[#kept + 1] = ARGV[a]
      a = a - 1
      if a >= from then aMs = timeOf(ARGV[a]) end
    end
  end
  local lines = {}
  for n = #kept, 1, -1 do lines[#lines + 1] = kept[n] .. '\n' end
  return redis.pcall('SET', key, historyCount(#kept) .. '\n' .. table.concat(lines))
end

-- The bytes of a history's end read at first when a batch reaches back into it: a few entries, enough for the
-- batches of concurrent requests a little out of order; a batch reaching further back reads eight times as many.
local TAIL_BYTES = 256

-- Merges the batch ARGV[from .. from + h - 1] (oldest first) into the key's stored entries (`length` bytes of
-- text) from the end: the stored entries newer than the batch's oldest are read from the text's end (a chunk,
-- grown until it reaches an older entry or the text's start), merged with the batch by time, the stored one first
-- of two of one time, and written back over that tail with one SETRANGE; the entries before it are not read.
-- Answers false when the tail read is out of time order (a history written before histories were kept in
-- order): the caller merges the whole text then.
local function mergeIntoTail(key, from, h, length)
  local oldestMs = timeOf(ARGV[from])
  local size = TAIL_BYTES
  while true do
    local start = math.max(7, length - size)
    local chunk = redis.pcall('GETRANGE', key, start, -1)
    if isError(chunk) then return chunk end
    -- A chunk that starts inside an entry is read from the entry after it.
    local first = 1
    if start > 7 then first = (string.find(chunk, '\n', 1, true) or #chunk) + 1 end
    local entries, times, offsets = {}, {}, {}
    local n, at = 0, first
    for entry, after in string.gmatch(string.sub(chunk, first), '([^\n]*)\n()') do
      n = n + 1
      entries[n], times[n], offsets[n] = entry, timeOf(entry), start + at - 1
      if n > 1 and times[n] < times[n - 1] then return false end
      at = first + after - 1
    end
    local k = n + 1
    for i = n, 1, -1 do
      if times[i] <= oldestMs then break end
      k = i
    end
    if k > 1 or start == 7 then
      local merged = {}
      local s, a, last = k, from, from + h - 1
      local aMs = oldestMs
      while s <= n or a <= last do
        if a > last or (s <= n and times[s] <= aMs) then
          merged[#merged + 1] = entries[s]
          s = s + 1
        else
          merged[#merged + 1] = ARGV[a]
          a = a + 1
          if a <= last then aMs = timeOf(ARGV[a]) end
        end
      end
      return redis.pcall('SETRANGE', key, offsets[k] or length, table.concat(merged, '\n') .. '\n')
    end
    size = size * 8
  end
end

-- What addToHistory answers for a user erased within the hour: nothing of theirs is written.
local ERASED = {}

-- Adds ARGV[from .. from + h - 1] (oldest first) to the key's entries. A batch whose oldest time is not before
-- the stored newest entry's is appended in three commands that copy nothing of what the key holds (the stored
-- newest time is read from the text's last bytes; a batch of that same time arrived after it, so it goes after
-- it). A batch that reaches back before the stored newest entry is merged into the text's tail
-- (`mergeIntoTail`), or into the whole text when that is out of order (`mergeHistory`). Past the cap and a quarter
-- the text is rewritten with the newest `cap`: a reader takes at most `cap` from the end, so it reads what a
-- history capped at every write would give.
local function addToHistory(key, from, h)
  local head = redis.pcall('GETRANGE', key, 0, 6)
  local count
  if isErasureMark(head) then return ERASED end
  if type(head) == 'table' then
    count = rewriteList(key)
    if type(count) == 'table' then return count end
  elseif head == '' then
    count = 0
  else
    count = string.sub(head, 7, 7) == '\n' and tonumber(string.sub(head, 1, 6))
    if not count then return redis.error_reply('ERR ' .. key .. ' holds no live history text') end
  end
  local reply
  if count == 0 then
    reply = redis.pcall('SET', key, historyCount(h) .. '\n' .. table.concat(ARGV, '\n', from, from + h - 1) .. '\n')
    return reply
  end
  -- The newest entry ends its time, a bracket and a newline: its time fits in the last 24 bytes.
  local tail = redis.pcall('GETRANGE', key, -24, -1)
  if isError(tail) then return tail end
  local newestMs = tonumber(string.match(tail, ',(%-?%d+)%]\n$'))
  if not newestMs then return mergeHistory(key, from, h) end
  if timeOf(ARGV[from]) < newestMs then
    local length = redis.pcall('STRLEN', key)
    if isError(length) then return length end
    reply = mergeIntoTail(key, from, h, length)
    if reply == false then return mergeHistory(key, from, h) end
  else
    reply = redis.pcall('APPEND', key, table.concat(ARGV, '\n', from, from + h - 1) .. '\n')
  end
  count = count + h
  if not isError(reply) then reply = redis.pcall('SETRANGE', key, 0, historyCount(count)) end
  if isError(reply) or count <= cap + math.floor(cap / 4) then return reply end
  local text = redis.pcall('GET', key)
  local cut = 7
  for _ = 1, count - cap do cut = string.find(text, '\n', cut + 1, true) end
  return redis.pcall('SET', key, historyCount(cap) .. '\n' .. string.sub(text, cut + 1))
end

-- The reply: the first failure's text (set last), then the trending increments countHour appends.
local increments = { '' }

-- Appends to `increments` what user u's items' heaviest weights of one hour (`items`: item id to weight; `hour` as
-- sent) add above what the user's counted hash `key` holds of that hour, and records them there. A hash that
-- holds an older hour (two before: the same parity) is replaced; one that holds a newer hour leaves this hour,
-- older than the two the api reads, bounded within the call only.
local function countHour(u, key, hour, items)
  local names = {}
  for item in pairs(items) do names[#names + 1] = item end
  local held, heldHour = {}, false
  for first = 1, #names, SLICE do
    local last = math.min(first + SLICE - 1, #names)
    local reply = redis.pcall('HMGET', key, '', unpack(names, first, last))
    if failed(reply) then
      heldHour = nil
      break
    end
    heldHour = reply[1]
    for n = first, last do held[n] = reply[n - first + 2] end
  end
  -- nil: the hash is unreadable (counted within the call only); false: it holds no hour
  local current = heldHour == hour
  local records = heldHour ~= nil and (current or not heldHour or tonumber(heldHour) < tonumber(hour))
  local changes = {}
  for n, item in ipairs(names) do
    local counted = current and tonumber(held[n]) or 0
    local weight = items[item]
    if weight > counted then
      increments[#increments + 1] = u
      increments[#increments + 1] = hour
      increments[#increments + 1] = weight - counted
      increments[#increments + 1] = item
      changes[#changes + 1] = item
      changes[#changes + 1] = weight
    end
  end
  if not records or #changes == 0 then return end
  if not current then
    if heldHour and failed(redis.pcall('DEL', key)) then return end
    changes[#changes + 1] = ''
    changes[#changes + 1] = hour
  end
  for first = 1, #changes, SLICE do
    if failed(redis.pcall('HSET', key, unpack(changes, first, math.min(first + SLICE - 1, #changes)))) then return end
  end
  if not current then failed(redis.pcall('EXPIRE', key, countedTtl)) end
end

-- Counts the t trending events ARGV[from ..] (hour, weight, item id each) of user u, whose counted hashes are
-- `evenKey` and `oddKey`: per hour and item the heaviest weight, hours in the order they came (oldest first).
local function countTrending(u, evenKey, oddKey, from, t)
  local hours, byHour = {}, {}
  for i = from, from + 3 * t - 1, 3 do
    local hour, weight, item = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
    local items = byHour[hour]
    if not items then
      items = {}
      byHour[hour] = items
      hours[#hours + 1] = hour
    end
    if (items[item] or 0) < weight then items[item] = weight end
  end
  for _, hour in ipairs(hours) do
    countHour(u, tonumber(hour) % 2 == 0 and evenKey or oddKey, hour, byHour[hour])
  end
end

for u = 1, users do
  local h = tonumber(ARGV[1 + 3 * u])
  local p = tonumber(ARGV[2 + 3 * u])
  local t = tonumber(ARGV[3 + 3 * u])
  local added = addToHistory(KEYS[5 * u - 4], at, h)
  local erased = added == ERASED
  local ok = not erased and not failed(added)
  at = at + h
  for first = at, at + p - 1, SLICE do
    if ok then
      ok = not failed(redis.pcall('SADD', KEYS[5 * u - 3], unpack(ARGV, first, math.min(first + SLICE - 1, at + p - 1))))
    end
  end
  at = at + p
  if not erased and t > 0 then countTrending(u, KEYS[5 * u - 1], KEYS[5 * u], at, t) end
  at = at + 3 * t
  if ok then
    stamps[#stamps + 1] = KEYS[5 * u - 2]
    stamps[#stamps + 1] = ARGV[1]
  end
  if #stamps >= SLICE or (u == users and #stamps > 0) then
    redis.call('MSET', unpack(stamps))
    stamps = {}
  end
end
increments[1] = failure or ''
return increments
