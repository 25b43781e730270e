--[[
  Deletes a version of a model line, every key of it and its entries in the line's sorted sets, unless it is the
  version the line serves: checked in the same step, so a rollback that restored it meanwhile keeps it whole (a
  clean-up decides from what it read before). Every key is in the line's hash tag (one slot).
  KEYS[1] model:{<line>}:current          string, the line's served version
  KEYS[2] model:{<line>}:versions         zset, the line's published versions
  KEYS[3] model:{<line>}:retired          zset, the line's retired versions
  KEYS[4] model:{<line>}:publishing       zset, the line's versions being published
  KEYS[5..] model:{<line>}:<version>:*    every key of the version (keys.modelVersionKeys)
  ARGV[1] version
  Returns 1 when the version was deleted, 0 when it is served (nothing deleted).
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return 0
end
redis.call('UNLINK', unpack(KEYS, 5))
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
