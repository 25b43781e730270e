--[[
  Reads what a recommendation needs of one user's live state in one call, at one instant: no write lands between
  the parts.
  KEYS[1] user:{id}:history    list, newest first, each entry JSON [type, itemId, timestampMs]
  KEYS[2] user:{id}:purchased  set of item ids
  KEYS[3] user:{id}:profile    hash, field `personalization` '1' or '0'
  ARGV[1] how many history entries to read, newest first
  Returns { the entries joined as one JSON array text (one parse for the whole history), the purchased item ids,
  the personalization flag (nil when never written) }.
]]
local entries = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
return {
  '[' .. table.concat(entries, ',') .. ']', redis.call('SMEMBERS', KEYS[2]),
  redis.call('HGET', KEYS[3], 'personalization')
}
