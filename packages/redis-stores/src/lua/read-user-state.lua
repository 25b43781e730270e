--[[
  Reads what a recommendation needs of one user's live state in one call, at one instant: no write lands between
  the parts.
  KEYS[1] user:{id}:history    string: the history's stored text (history-text.ts), newest first; a list before
  KEYS[2] user:{id}:purchased  set of item ids
  KEYS[3] user:{id}:profile    hash, field `personalization` '1' or '0'
  ARGV[1] how many history entries to read, newest first
  Returns { the newest entries in the stored text (one parse for the whole history), the purchased item ids, the
  personalization flag (nil when never written) }; an error when the history key is of another type.
]]
--- @include "read-history"
local history = newestEntries(KEYS[1], tonumber(ARGV[1]))
if type(history) == 'table' then return history end
return { history, redis.call('SMEMBERS', KEYS[2]), redis.call('HGET', KEYS[3], 'personalization') }
