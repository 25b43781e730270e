-- Applies newly committed events to their users' live state, many users in one call (one command per group of
-- events on a standalone server, per slot on a cluster, where one command per user cost Redis and ingest more
-- than the writes themselves): per user the recent history, newest first and capped, and the purchased set;
-- then the new stamp of every user whose writes succeeded, after the data, so a reader that sees the new stamp
-- reads the new data. A user's failing write (a key of another type) stops only that user's writes.
-- A history is one string, its stored text (history-text.ts): the entry count and a newline, then the entries
-- newest first, each with a newline after it; a read takes one GET and no work per entry. A list (the layout
-- before the text) is rewritten as the text at the user's next event.
-- Cluster: every key of one call in one slot (each user's keys share a hash tag; the caller groups by slot).
-- KEYS[3u-2], KEYS[3u-1], KEYS[3u]  user u's history, purchased set and stamp string (n users: 3n keys)
-- ARGV[1] the new stamp   ARGV[2] history cap
-- ARGV[1+2u], ARGV[2+2u]  user u's counts: h >= 1 history entries (at most the cap), p purchased item ids
-- ARGV[3+2n ..] per user in order: h history entries, oldest first, then p purchased item ids
-- Returns n, or the first failing write's error once every other user's writes are done.
local users = #KEYS / 3
local cap = tonumber(ARGV[2])
local at = 3 + 2 * users
-- unpack has a stack limit: purchases and stamps go in slices well under it.
local SLICE = 1000
local failure = nil
local stamps = {}
local failed = function(reply)
  if type(reply) == 'table' and reply.err then
    failure = failure or reply.err
    return true
  end
  return false
end

-- The history as stored: its entry count, its text and where the entries start in it; from the text, or from a
-- list of the layout before.
local function storedHistory(key)
  local text = redis.pcall('GET', key)
  if type(text) == 'table' then
    local entries = redis.pcall('LRANGE', key, 0, cap - 1)
    if entries.err then return entries end
    if #entries == 0 then return 0, '', 1 end
    return #entries, table.concat(entries, '\n') .. '\n', 1
  end
  if not text then return 0, '', 1 end
  local headerEnd = string.find(text, '\n', 1, true)
  local count = headerEnd and tonumber(string.sub(text, 1, headerEnd - 1))
  if not count then return redis.error_reply('ERR ' .. key .. ' holds no live history text') end
  return count, text, headerEnd + 1
end

-- The position of the last newline in `text` before position `before`, found with plain searches over a window
-- that doubles until it holds one (an entry is a few dozen bytes), not byte by byte in Lua.
local function newlineBefore(text, before)
  local window = 64
  while true do
    local from = math.max(1, before - window)
    local last = nil
    local at = string.find(text, '\n', from, true)
    while at and at < before do
      last = at
      at = string.find(text, '\n', at + 1, true)
    end
    if last or from == 1 then return last end
    window = window * 2
  end
end

-- Writes ARGV[from .. from + h - 1] (oldest first) before the key's entries and keeps the newest `cap`.
local function prependHistory(key, from, h)
  local count, text, first = storedHistory(key)
  if type(count) == 'table' then return count end
  local last = #text
  local room = cap - h
  if count > room then
    if room <= 0 then
      last = first - 1
    elseif count - room < room then
      -- Usually one entry over: step back over the oldest ones.
      for _ = 1, count - room do last = newlineBefore(text, last) end
    else
      last = first - 1
      for _ = 1, room do last = string.find(text, '\n', last + 1, true) end
    end
    count = math.max(room, 0)
  end
  local newest = {}
  for k = from + h - 1, from, -1 do newest[#newest + 1] = ARGV[k] end
  return redis.pcall('SET', key, (count + h) .. '\n' .. table.concat(newest, '\n') .. '\n' .. string.sub(text, first, last))
end
for u = 1, users do
  local h = tonumber(ARGV[1 + 2 * u])
  local p = tonumber(ARGV[2 + 2 * u])
  local ok = not failed(prependHistory(KEYS[3 * u - 2], at, h))
  at = at + h
  for first = at, at + p - 1, SLICE do
    if ok then
      ok = not failed(redis.pcall('SADD', KEYS[3 * u - 1], unpack(ARGV, first, math.min(first + SLICE - 1, at + p - 1))))
    end
  end
  at = at + p
  if ok then
    stamps[#stamps + 1] = KEYS[3 * u]
    stamps[#stamps + 1] = ARGV[1]
  end
  if #stamps >= SLICE or (u == users and #stamps > 0) then
    redis.call('MSET', unpack(stamps))
    stamps = {}
  end
end
if failure then return redis.error_reply(failure) end
return users
