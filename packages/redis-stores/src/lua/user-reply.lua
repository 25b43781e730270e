--[[
  The reply cache's script, for both its operations: one script, so a write finds it loaded by the read of its
  query before it (a write sent again by its text after NOSCRIPT could reach Redis after a later read).
  ARGV[1] 'read': the user's stamp and the cached entry for one query, and, unless that entry was written under
  this very stamp (its header starts with the stamp and a tab), what computing the answer needs of the user's live
  state, read at the same instant as the stamp. With admission on (ARGV[4] > 0) an answer is stored only when its
  query is missed a second time under one stamp: the first miss leaves a mark in the entry's key (the stamp and a
  tab, nothing else), so users who send an event before each read (every answer a miss) leave a few bytes per
  query, not a whole answer that is never served.
  ARGV[1] 'write': stores one entry (reply-cache.ts `encodeReplyEntry`), unless the history key holds an erasure's
  mark, or the entry's stamp is not the user's stamp: an answer computed before an erasure or a write of the
  user's state (a consent withdrawal forgetting the history it was built from), reaching Redis after it, is never
  served and must not bring back a key that names the user and an answer built from what was deleted.
  Every mark and entry is entered in the user's reply index (reply-index.lua), which their erasure deletes them by.
  Cluster: the keys carry the user's hash tag.
  KEYS[1] user:{id}:stamp            string
  KEYS[2] user:{id}:reply:<query>    string: the cached entry, or the mark of a first miss
  KEYS[3] user:{id}:history          string: the history's stored text (history-text.ts), or an erasure's mark
                                     '~erased:…'; a list before
  KEYS[4] user:{id}:purchased        set of item ids (read only)
  KEYS[5] user:{id}:profile          hash, field `personalization` '1' or '0' (read only)
  KEYS[6] user:{id}:reply-index      sorted set: the user's living reply keys' query keys, by expiry (ms)
  ARGV[1] 'read' or 'write'   ARGV[2] the query key (the end of KEYS[2]), as the index names it
  read:  ARGV[3] how many history entries are read, newest first (a list's; the text is read whole)
         ARGV[4] how long a first miss's mark lives (ms); 0: no marks, every computed answer may be stored
  write: ARGV[3] the entry   ARGV[4] its life (ms, > 0)
  A read returns { stamp, entry } when the entry holds the stamp; else { stamp or nil, nil (an entry under another
  stamp is never served, so it is not sent), the history's stored text, the purchased item ids, the
  personalization flag or nil, 1 when an answer computed now may be stored, else 0 }; an error when the history
  key is of another type. A write returns 1 stored, 0 nothing written (erasure's mark, or another stamp).
]]
--- @include "read-history"
--- @include "reply-index"
if ARGV[1] == 'write' then
  if isErasureMark(redis.pcall('GETRANGE', KEYS[3], 0, 0)) then return 0 end
  local stamp = redis.call('GET', KEYS[1])
  if not stamp or string.sub(ARGV[3], 1, #stamp + 1) ~= stamp .. '\t' then return 0 end
  local lifeMs = tonumber(ARGV[4])
  redis.call('SET', KEYS[2], ARGV[3], 'PX', lifeMs)
  indexReply(KEYS[6], ARGV[2], lifeMs)
  return 1
end
local stamp = redis.call('GET', KEYS[1])
local entry = redis.call('GET', KEYS[2])
local mark = stamp and stamp .. '\t'
if stamp and entry and #entry > #mark and string.sub(entry, 1, #mark) == mark then
  return { stamp, entry }
end
local admit = 1
local markMs = tonumber(ARGV[4])
if markMs > 0 then
  if not stamp then
    admit = 0
  elseif entry ~= mark then
    redis.call('SET', KEYS[2], mark, 'PX', markMs)
    indexReply(KEYS[6], ARGV[2], markMs)
    admit = 0
  end
end
local history = storedHistory(KEYS[3], tonumber(ARGV[3]))
return {
  stamp, false, history, redis.call('SMEMBERS', KEYS[4]), redis.call('HGET', KEYS[5], 'personalization'), admit
}
