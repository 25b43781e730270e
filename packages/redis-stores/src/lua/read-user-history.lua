--[[
  A user's live history, read as read-user-state.lua reads it.
  KEYS[1] user:{id}:history  string: the history's stored text (history-text.ts); a list before
  ARGV[1] how many entries a list gives, newest first (the text is read whole)
  Returns the history's stored text; an error when the key is of another type.
]]
--- @include "read-history"
return storedHistory(KEYS[1], tonumber(ARGV[1]))
