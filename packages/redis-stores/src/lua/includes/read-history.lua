--[[
  storedHistory(key, n): a user's live history in its stored text (history-text.ts): the entry count in six digits
  and a newline, then the entries oldest first, each the JSON text [type, itemId, timestampMs] and a newline; the
  reader takes the newest it wants from the end. '000000\n' when the user has none. A list (the layout before the
  text: one entry per element, newest first) gives its newest n entries in the same text; record-user-events.lua
  rewrites it as the text at the user's next event. An erased user's mark (isErasureMark) reads as no history.
  Raises an error for a key of another type.
]]
--- @include "history-text"
local function storedHistory(key, n)
  local text = redis.pcall('GET', key)
  if type(text) == 'table' then return listAsHistory(redis.call('LRANGE', key, 0, n - 1)) end
  if not text or isErasureMark(text) then return historyCount(0) .. '\n' end
  return text
end
