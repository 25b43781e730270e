#!lua flags=allow-oom
--[[
  Switches a model line to a fully written version, atomically. Every key is in the line's hash tag (one slot).
  Runs on a Redis at its maxmemory (the flag above, Redis 7 or newer; it must stay the first line): the version's
  bulk was written before by plain commands, which Redis refuses when full, and this switch adds a few bytes, so a
  version written whole is served rather than wasted when its own last writes took Redis to its limit.
  KEYS[1] model:{<line>}:current          string, the line's served version
  KEYS[2] model:{<line>}:versions         zset, the line's published versions by publish time
  KEYS[3] model:{<line>}:<version>:meta   hash, present only once the version is completely written
  KEYS[4] model:{<line>}:publishing       zset, the line's versions being published; the version leaves it here
  ARGV[1] version
  ARGV[2] publish time, epoch ms
  Returns the previously served version (or false), or an error when the version is incomplete, or no longer
  being published: already published (this switch ran before, and was sent again after its reply was lost), or
  freed, parts of it gone, by a later build of the line (ModelLine.takeOver: this one's build lost its hold on the
  line, and its successor's switch is the one that counts) or by a clean-up as abandoned while it was written.
]]
local whole = redis.call('EXISTS', KEYS[3]) == 1
local publishing = redis.call('ZSCORE', KEYS[4], ARGV[1]) ~= false
if not (whole and publishing) then
  local why = {}
  if not whole then why[#why + 1] = 'is incomplete' end
  if not publishing and redis.call('ZSCORE', KEYS[2], ARGV[1]) ~= false then
    why[#why + 1] = 'was published already (this switch ran before: it was sent again after its reply was lost)'
  elseif not publishing then
    why[#why + 1] = 'is no longer being published (a later build of the line freed it, or a clean-up took it for abandoned)'
  end
  return redis.error_reply('model version ' .. ARGV[1] .. ' ' .. table.concat(why, ' and '))
end
local previous = redis.call('GET', KEYS[1])
redis.call('HSET', KEYS[3], 'publishedAt', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return previous
