-- Applies a catalog write's servability to the unservable set and bumps its version, in one step with the check
-- that the copy did not go back: Postgres names the newest version a committed write or restore copied, and a
-- version at or below it means this Redis lacks that copy (a failover to a replica that lagged), so the mark that
-- the set is whole is cleared and the set must be restored from Postgres. No reader sees the set whole between.
-- The write's id is marked unconfirmed with its change (cleared once it committed), so a change whose commit
-- fails is never in the set without the mark that has a restore put the committed set back.
-- Cluster: the four keys share one hash tag.
-- KEYS[1] the unservable set, KEYS[2] its version counter, KEYS[3] the mark that the set is whole,
-- KEYS[4] the ids of writes not yet confirmed committed
-- ARGV[1] the newest version Postgres holds as copied (0: none)
-- ARGV[2] the write's id
-- ARGV[3] how many of the ids that follow are unservable; the rest are servable
-- ARGV[4], ... the unservable ids, then the servable ids
-- Returns { 1 when the set is whole after the write else 0, the new version }.
local unservable = tonumber(ARGV[3])
local CHUNK = 1000
local function apply(command, from, to)
  for first = from, to, CHUNK do
    redis.call(command, KEYS[1], unpack(ARGV, first, math.min(first + CHUNK - 1, to)))
  end
end
local whole = redis.call('EXISTS', KEYS[3]) == 1
redis.call('SADD', KEYS[4], ARGV[2])
apply('SADD', 4, 3 + unservable)
apply('SREM', 4 + unservable, #ARGV)
local version = redis.call('INCR', KEYS[2])
if whole and version <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[3])
  whole = false
end
return { whole and 1 or 0, version }
