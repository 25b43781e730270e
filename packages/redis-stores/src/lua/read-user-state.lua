--[[
  Reads what a recommendation needs of one user's live state in one call, at one instant: no write lands between
  the parts.
  KEYS[1] user:{id}:history    string: the history's stored text (history-text.ts); a list before
  KEYS[2] user:{id}:purchased  set of item ids
  KEYS[3] user:{id}:profile    hash, field `personalization` '1' or '0'
  ARGV[1] how many history entries are read, newest first (a list's; the text is read whole)
  Returns { the history's stored text, which the reader cuts to the entries it wants, the purchased item ids, the
  personalization flag (nil when never written) }; an error when the history key is of another type.
]]
--- @include "read-history"
local history = storedHistory(KEYS[1], tonumber(ARGV[1]))
return { history, redis.call('SMEMBERS', KEYS[2]), redis.call('HGET', KEYS[3], 'personalization') }
