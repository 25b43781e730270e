-- Writes a user's consent and time zone unless the stored profile is of a later revision: two writes of one user
-- in flight reach Redis in either order, and the one Postgres committed last must stay (migration 0013). Nor is
-- it written while the user's history key holds the mark of an erasure of a later revision (live-state.ts
-- `eraseUserLiveState`): the write was committed before the erasure deleted it from Postgres and reached Redis
-- after it, and must not bring the erased profile back; a user who came back after the erasure is written.
-- Cluster: the three keys carry the user's hash tag, so they share one slot.
-- KEYS[1] user:{id}:profile hash (fields personalization and push '1' or '0', timezone ('' for none), revision)
-- KEYS[2] user:{id}:stamp   string, renewed when the profile changes (answers depend on it)
-- KEYS[3] user:{id}:history string: the history's text, or an erasure's mark '~erased:<the erasure's revision>'
-- ARGV[1] the write's revision   ARGV[2] personalization '1' or '0'   ARGV[3] push '1' or '0'
-- ARGV[4] timezone ('' for none)   ARGV[5] the new stamp
-- Returns 1 when written, 0 when the stored profile has a larger revision, 2 when an erasure of a later revision
-- is marked (nothing changed in either case).
local revision = tonumber(ARGV[1])
if tonumber(redis.call('HGET', KEYS[1], 'revision') or '0') > revision then
  return 0
end
-- Only a string can be a mark (a history of the layout before is a list).
if redis.call('TYPE', KEYS[3]).ok == 'string' then
  local erasedAt = string.match(redis.call('GETRANGE', KEYS[3], 0, 63), '^~erased:(%d+)$')
  if erasedAt and tonumber(erasedAt) >= revision then
    return 2
  end
end
redis.call('HSET', KEYS[1], 'personalization', ARGV[2], 'push', ARGV[3], 'timezone', ARGV[4], 'revision', ARGV[1])
redis.call('SET', KEYS[2], ARGV[5])
return 1
