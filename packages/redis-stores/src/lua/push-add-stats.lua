-- Adds push decision counts to one hourly stats hash and renews its expiry: one command per flush and hour, where
-- a pipeline of one HINCRBY per field held the API's event loop for milliseconds every flush.
-- Cluster: one key per call.
-- KEYS[1] the hour's stats hash (field: channel, reason and campaign, tab-separated; value: decisions)
-- ARGV[1] seconds the hash lives after this write
-- ARGV[2], ARGV[3], ... field, count pairs
-- Returns the number of fields added to.
local key = KEYS[1]
for i = 2, #ARGV, 2 do
  redis.call('HINCRBY', key, ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', key, ARGV[1])
return (#ARGV - 1) / 2
