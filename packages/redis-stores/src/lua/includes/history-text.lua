--[[
  The live history's stored text (history-text.ts owns the format): historyCount(n) is the entry count as the text
  starts with it, six digits that a write rewrites in place; listAsHistory(entries) is the stored text of a list of
  the layout before (entries newest first). isErasureMark(head) tells whether a value read of the key (its whole
  text or its first bytes) is the mark an erasure leaves in it for an hour (live-state.ts `ERASURE_MARK`): no
  history, and none is written until it expires.
]]
local function historyCount(count)
  return string.format('%06d', count)
end

local function listAsHistory(entries)
  local oldestFirst = {}
  for k = #entries, 1, -1 do oldestFirst[#oldestFirst + 1] = entries[k] .. '\n' end
  return historyCount(#entries) .. '\n' .. table.concat(oldestFirst)
end

local function isErasureMark(head)
  return type(head) == 'string' and string.sub(head, 1, 1) == '~'
end
