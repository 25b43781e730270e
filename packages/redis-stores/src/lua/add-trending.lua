-- Adds weighted counts to one hourly trending sorted set and renews its expiry: one command per hour and group of
-- events, where one ZINCRBY per item (about half a command per ingested event) cost ingest more CPU than the
-- user scripts did.
-- Cluster: one key per call.
-- KEYS[1] the hour's trending sorted set (member: item id; score: weighted count)
-- ARGV[1] seconds the set lives after this write
-- ARGV[2], ARGV[3], ... weight, item id pairs
-- Returns the number of items added to.
local key = KEYS[1]
for i = 2, #ARGV, 2 do
  redis.call('ZINCRBY', key, ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', key, ARGV[1])
return (#ARGV - 1) / 2
