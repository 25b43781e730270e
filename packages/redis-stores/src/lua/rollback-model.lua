--[[
  Serves an earlier version again and retires the current one, if the current one is still the one the caller saw.
  KEYS[1] model:current               string, the served version
  KEYS[2] model:versions              zset, published versions by publish time
  KEYS[3] model:retired               zset, versions taken out of service, by retire time
  KEYS[4] model:<restored>:meta       hash, must exist (the restored version is complete)
  ARGV[1] the version the caller saw as current
  ARGV[2] the version to restore
  ARGV[3] retire time, epoch ms
  Returns 1 on success; 0 when current changed meanwhile; -1 when the restored version is gone.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if redis.call('EXISTS', KEYS[4]) == 0 then
  return -1
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
