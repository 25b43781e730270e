--[[
  A user's newest live history entries, read as read-user-state.lua reads them.
  KEYS[1] user:{id}:history  string: the history's stored text (history-text.ts); a list before
  ARGV[1] how many entries to read, newest first
  Returns the newest entries in the stored text; an error when the key is of another type.
]]
--- @include "read-history"
return newestEntries(KEYS[1], tonumber(ARGV[1]))
