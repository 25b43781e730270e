--[[
  The reply cache's read, in one call: the user's stamp and the cached entry for one query, and, unless that entry
  was written under this very stamp (its header starts with the stamp and a tab), what computing the answer
  needs of the user's live state, read at the same instant as the stamp. With admission on (ARGV[2] > 0) an
  answer is stored only when its query is missed a second time under one stamp: the first miss leaves a mark in
  the entry's key (the stamp and a tab, nothing else), so users who send an event before each read (every answer
  a miss) leave a few bytes per query, not a whole answer that is never served.
  KEYS[1] user:{id}:stamp            string
  KEYS[2] user:{id}:reply:<query>    string: the cached entry, or the mark of a first miss
  KEYS[3] user:{id}:history          string: the history's stored text (history-text.ts); a list before
  KEYS[4] user:{id}:purchased        set of item ids
  KEYS[5] user:{id}:profile          hash, field `personalization` '1' or '0'
  ARGV[1] how many history entries are read, newest first (a list's; the text is read whole)
  ARGV[2] how long a first miss's mark lives (ms); 0: no marks, every computed answer may be stored
  Returns { stamp, entry } when the entry holds the stamp; else { stamp or nil, nil (an entry under another stamp
  is never served, so it is not sent), the history's stored text, the purchased item ids,
  the personalization flag or nil, 1 when an answer computed now may be stored, else 0 }; an error when the
  history key is of another type.
]]
--- @include "read-history"
local stamp = redis.call('GET', KEYS[1])
local entry = redis.call('GET', KEYS[2])
local mark = stamp and stamp .. '\t'
if stamp and entry and #entry > #mark and string.sub(entry, 1, #mark) == mark then
  return { stamp, entry }
end
local admit = 1
local markMs = tonumber(ARGV[2])
if markMs > 0 then
  if not stamp then
    admit = 0
  elseif entry ~= mark then
    redis.call('SET', KEYS[2], mark, 'PX', markMs)
    admit = 0
  end
end
local history = storedHistory(KEYS[3], tonumber(ARGV[1]))
return {
  stamp, false, history, redis.call('SMEMBERS', KEYS[4]), redis.call('HGET', KEYS[5], 'personalization'), admit
}
