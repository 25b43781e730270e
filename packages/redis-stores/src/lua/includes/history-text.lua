--[[
  The live history's stored text (history-text.ts owns the format): historyCount(n) is the entry count as the text
  starts with it, six digits that a write rewrites in place; listAsHistory(entries) is the stored text of a list of
  the layout before (entries newest first).
]]
local function historyCount(count)
  return string.format('%06d', count)
end

local function listAsHistory(entries)
  local oldestFirst = {}
  for k = #entries, 1, -1 do oldestFirst[#oldestFirst + 1] = entries[k] .. '\n' end
  return historyCount(#entries) .. '\n' .. table.concat(oldestFirst)
end
