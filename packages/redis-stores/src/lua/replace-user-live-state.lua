--[[
  Replaces one user's live history and purchased set with what a rebuild read of Postgres (live-state.ts
  `replaceUserLiveState`, `elevens events rebuild-live-state`), then sets a new stamp, after the data. Checked and
  written in one step, so nothing ingest or the user routes do for the user falls between the two:
  - a user erased within the hour (the history key holds the erasure's mark, live-state.ts `eraseUserLiveState`)
    gets nothing written: the read may predate the erasure, and must not bring the erased history back;
  - a user whose profile holds withdrawn personalization consent gets their history and purchases deleted (as the
    withdrawal did) and a new stamp, not what the read found: it may predate the withdrawal.
  With ARGV[3] '1' the read may be older than ingest's writes since: the stored history entries newer than the
  newest read one are kept after the read ones (events committed after the read, which ingest applied meanwhile),
  and so are those of its very millisecond beyond the read ones they match (same text, each match once: clocks in
  whole seconds give many events one time), and the items of the purchases among them stay purchased. A replace
  with no entries read keeps nothing stored.
  Any other key type in the history or purchased key is replaced (a list of the layout before is read as entries).
  Cluster: the four keys carry the user's hash tag, so they share one slot.
  KEYS[1] user:{id}:history    string: the history's stored text (history-text.ts), or an erasure's mark '~erased:…'
  KEYS[2] user:{id}:purchased  set of item ids
  KEYS[3] user:{id}:stamp      string, renewed after the data
  KEYS[4] user:{id}:profile    hash (field personalization '0' once withdrawn)
  ARGV[1] the new stamp   ARGV[2] history cap   ARGV[3] '1': keep stored entries newer than the read, '0': do not
  ARGV[4] h, the count of history entries read   ARGV[5 .. 4+h] those entries, oldest first by time
  ARGV[5+h ..] the purchased item ids read
  Returns 1 replaced, 0 nothing written (erasure's mark), 2 history and purchases deleted (consent withdrawn).
]]
--- @include "history-text"

local historyType = redis.call('TYPE', KEYS[1]).ok
if historyType == 'string' and isErasureMark(redis.call('GETRANGE', KEYS[1], 0, 0)) then return 0 end
if redis.call('HGET', KEYS[4], 'personalization') == '0' then
  redis.call('UNLINK', KEYS[1], KEYS[2])
  redis.call('SET', KEYS[3], ARGV[1])
  return 2
end

local cap = tonumber(ARGV[2])
local keepNewer = ARGV[3] == '1'
local h = tonumber(ARGV[4])
local from, last = 5, 4 + h
-- unpack has a stack limit: purchases go in slices well under it.
local SLICE = 1000

-- An entry's time: the integer before its closing bracket (-inf when it has none).
local function timeOf(entry)
  return tonumber(string.match(entry, ',(%-?%d+)%]$')) or -math.huge
end

-- The stored entries newer than `afterMs`, and those of `afterMs` not among `readAtMs` (entry text → how many of
-- it were read at that time; each read one matches one stored), oldest first (by time, entries of one time as
-- stored).
local function storedNewerThan(afterMs, readAtMs)
  local stored = {}
  if historyType == 'string' then
    for entry in string.gmatch(string.sub(redis.call('GET', KEYS[1]), 8), '([^\n]*)\n') do
      stored[#stored + 1] = entry
    end
  elseif historyType == 'list' then
    local newestFirst = redis.call('LRANGE', KEYS[1], 0, cap - 1)
    for k = #newestFirst, 1, -1 do stored[#stored + 1] = newestFirst[k] end
  end
  local newer = {}
  for n, entry in ipairs(stored) do
    local ms = timeOf(entry)
    local matched = ms == afterMs and (readAtMs[entry] or 0) > 0
    if matched then readAtMs[entry] = readAtMs[entry] - 1 end
    if ms > afterMs or (ms == afterMs and not matched) then newer[#newer + 1] = { entry = entry, ms = ms, n = n } end
  end
  -- table.sort is not stable: entries of one time keep their stored order by their index.
  table.sort(newer, function(a, b)
    if a.ms ~= b.ms then return a.ms < b.ms end
    return a.n < b.n
  end)
  return newer
end

local lines = {}
for a = from, last do lines[#lines + 1] = ARGV[a] end
local livePurchases = {}
if keepNewer and h > 0 then
  local newestMs = timeOf(ARGV[last])
  local readAtNewest = {}
  for a = last, from, -1 do
    if timeOf(ARGV[a]) ~= newestMs then break end
    readAtNewest[ARGV[a]] = (readAtNewest[ARGV[a]] or 0) + 1
  end
  for _, kept in ipairs(storedNewerThan(newestMs, readAtNewest)) do
    lines[#lines + 1] = kept.entry
    local parsed, event = pcall(cjson.decode, kept.entry)
    if parsed and type(event) == 'table' and event[1] == 'purchase' and type(event[2]) == 'string' then
      livePurchases[#livePurchases + 1] = event[2]
    end
  end
end

redis.call('UNLINK', KEYS[1], KEYS[2])
if #lines > 0 then
  local first = math.max(1, #lines - cap + 1)
  redis.call('SET', KEYS[1], historyCount(#lines - first + 1) .. '\n' .. table.concat(lines, '\n', first) .. '\n')
end
for start = last + 1, #ARGV, SLICE do
  redis.call('SADD', KEYS[2], unpack(ARGV, start, math.min(start + SLICE - 1, #ARGV)))
end
for start = 1, #livePurchases, SLICE do
  redis.call('SADD', KEYS[2], unpack(livePurchases, start, math.min(start + SLICE - 1, #livePurchases)))
end
redis.call('SET', KEYS[3], ARGV[1])
return 1
