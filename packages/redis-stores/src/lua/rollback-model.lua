#!lua flags=allow-oom
--[[
  Serves an earlier version of a model line again and retires the current one, if the current one is still the
  one the caller saw. Every key is in the line's hash tag (one slot). Runs on a Redis at its maxmemory (the flag
  above, Redis 7 or newer; it must stay the first line), which refuses the unflagged script's SET: the emergency
  rollback is wanted most when Redis is full, and it adds a few bytes at most.
  KEYS[1] model:{<line>}:current           string, the line's served version
  KEYS[2] model:{<line>}:versions          zset, the line's published versions by publish time
  KEYS[3] model:{<line>}:retired           zset, the line's versions taken out of service, by retire time
  KEYS[4] model:{<line>}:<restored>:meta   hash, must exist (the restored version is complete)
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
