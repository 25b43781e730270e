--[[
  newestEntries(key, n): the newest n entries of a user's live history, in the history's stored text
  (history-text.ts): the entry count and a newline, then the entries newest first, each the JSON text
  [type, itemId, timestampMs] and a newline; '0\n' when the user has none. A list (the layout before the text:
  one entry per element, newest first) is read the same way; record-user-events.lua rewrites it as the text.
  Raises an error for a key of another type, or a text without its count.
]]
local function newestEntries(key, n)
  local text = redis.pcall('GET', key)
  if type(text) == 'table' then
    local entries = redis.call('LRANGE', key, 0, n - 1)
    if #entries == 0 then return '0\n' end
    return #entries .. '\n' .. table.concat(entries, '\n') .. '\n'
  end
  if not text then return '0\n' end
  local headerEnd = string.find(text, '\n', 1, true)
  local count = headerEnd and tonumber(string.sub(text, 1, headerEnd - 1))
  if not count then return redis.error_reply('ERR ' .. key .. ' holds no live history text') end
  if count <= n then return text end
  local at = headerEnd
  for _ = 1, n do at = string.find(text, '\n', at + 1, true) end
  return n .. '\n' .. string.sub(text, headerEnd + 1, at)
end
