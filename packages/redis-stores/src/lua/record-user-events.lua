-- Applies newly committed events to their users' live state, many users in one call (one command per group of
-- events on a standalone server, per slot on a cluster, where one command per user cost Redis and ingest more
-- than the writes themselves): per user the recent history, capped, and the purchased set;
-- then the new stamp of every user whose writes succeeded, after the data, so a reader that sees the new stamp
-- reads the new data. A user's failing write (a key of another type) stops only that user's writes.
-- A history is one string, its stored text (history-text.ts): the entry count in six digits and a newline, then
-- the entries oldest first, each with a newline after it; a write appends, and a read is one GET. A list (the
-- layout before the text) is rewritten as the text at the user's next event.
-- Cluster: every key of one call in one slot (each user's keys share a hash tag; the caller groups by slot).
-- KEYS[3u-2], KEYS[3u-1], KEYS[3u]  user u's history, purchased set and stamp string (n users: 3n keys)
-- ARGV[1] the new stamp   ARGV[2] history cap
-- ARGV[1+2u], ARGV[2+2u]  user u's counts: h >= 1 history entries (at most the cap), p purchased item ids
-- ARGV[3+2n ..] per user in order: h history entries, oldest first, then p purchased item ids
-- Returns n, or the first failing write's error once every other user's writes are done.
-- The stamp is new to each call: when the first user's stamp already holds it, this call has run before (the
-- client sent it again after a lost connection took its reply) and changes nothing.
local users = #KEYS / 3
if redis.pcall('GET', KEYS[3]) == ARGV[1] then return users end
local cap = tonumber(ARGV[2])
local at = 3 + 2 * users
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

-- Appends ARGV[from .. from + h - 1] (oldest first) to the key's entries, in three commands that copy nothing of
-- what the key holds. Past the cap and a quarter the text is rewritten with the newest `cap`: a reader takes at
-- most `cap` from the end, so it reads what a history capped at every write would give.
local function appendHistory(key, from, h)
  local head = redis.pcall('GETRANGE', key, 0, 6)
  local count
  if type(head) == 'table' then
    count = rewriteList(key)
    if type(count) == 'table' then return count end
  elseif head == '' then
    count = 0
  else
    count = string.sub(head, 7, 7) == '\n' and tonumber(string.sub(head, 1, 6))
    if not count then return redis.error_reply('ERR ' .. key .. ' holds no live history text') end
  end
  local added = table.concat(ARGV, '\n', from, from + h - 1) .. '\n'
  count = count + h
  local reply
  if count == h then
    reply = redis.pcall('SET', key, historyCount(count) .. '\n' .. added)
  else
    reply = redis.pcall('APPEND', key, added)
    if not isError(reply) then reply = redis.pcall('SETRANGE', key, 0, historyCount(count)) end
  end
  if isError(reply) or count <= cap + math.floor(cap / 4) then return reply end
  local text = redis.pcall('GET', key)
  local cut = 7
  for _ = 1, count - cap do cut = string.find(text, '\n', cut + 1, true) end
  return redis.pcall('SET', key, historyCount(cap) .. '\n' .. string.sub(text, cut + 1))
end

for u = 1, users do
  local h = tonumber(ARGV[1 + 2 * u])
  local p = tonumber(ARGV[2 + 2 * u])
  local ok = not failed(appendHistory(KEYS[3 * u - 2], at, h))
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
