--[[
  The reply cache's read, in one call: the user's stamp and the cached entry for one query, and, unless that entry
  was written under this very stamp (its header starts with the stamp and a tab), what computing the answer
  needs of the user's live state, read at the same instant as the stamp.
  KEYS[1] user:{id}:stamp            string
  KEYS[2] user:{id}:reply:<query>    string, the cached entry
  KEYS[3] user:{id}:history          list, newest first, each entry JSON [type, itemId, timestampMs]
  KEYS[4] user:{id}:purchased        set of item ids
  KEYS[5] user:{id}:profile          hash, field `personalization` '1' or '0'
  ARGV[1] how many history entries to read, newest first
  Returns { stamp, entry } when the entry holds the stamp; else { stamp or nil, nil (an entry under another stamp
  is never served, so it is not sent), the history entries joined as one JSON array text, the purchased item
  ids, the personalization flag or nil }.
]]
local stamp = redis.call('GET', KEYS[1])
local entry = redis.call('GET', KEYS[2])
if stamp and entry and string.sub(entry, 1, #stamp + 1) == stamp .. '\t' then
  return { stamp, entry }
end
local entries = redis.call('LRANGE', KEYS[3], 0, tonumber(ARGV[1]) - 1)
return {
  stamp, false, '[' .. table.concat(entries, ',') .. ']',
  redis.call('SMEMBERS', KEYS[4]), redis.call('HGET', KEYS[5], 'personalization')
}
