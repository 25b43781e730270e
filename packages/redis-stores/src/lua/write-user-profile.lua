-- Writes a user's consent and time zone unless the stored profile is of a later revision: two writes of one user
-- in flight reach Redis in either order, and the one Postgres committed last must stay (migration 0013).
-- Cluster: both keys carry the user's hash tag, so they share one slot.
-- KEYS[1] user:{id}:profile hash (fields personalization and push '1' or '0', timezone ('' for none), revision)
-- KEYS[2] user:{id}:stamp   string, renewed when the profile changes (answers depend on it)
-- ARGV[1] the write's revision   ARGV[2] personalization '1' or '0'   ARGV[3] push '1' or '0'
-- ARGV[4] timezone ('' for none)   ARGV[5] the new stamp
-- Returns 1 when written, 0 when the stored profile has a larger revision (nothing changed).
if tonumber(redis.call('HGET', KEYS[1], 'revision') or '0') > tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'personalization', ARGV[2], 'push', ARGV[3], 'timezone', ARGV[4], 'revision', ARGV[1])
redis.call('SET', KEYS[2], ARGV[5])
return 1
