-- Adds weighted counts to one hourly trending sorted set and renews its expiry: one command per hour and group of
-- events, where one ZINCRBY per item (about half a command per ingested event) cost ingest more CPU than the
-- user scripts did.
-- Two forms. 'counts': weights as the caller worked them out (each shopper bounded by their own counted hashes).
-- 'shoppers': a weight per shopper and item, of which the set gets only what is above the weight the hour's
-- shoppers hash already holds for that shopper and item (recorded there). A rebuild of the hour from Postgres
-- (live-state.ts `restartTrendingHours`) empties the set and creates the shoppers hash: while that hash lives, the
-- set takes shoppers only, so an event the rebuild read and ingest also sends, whichever comes first, counts once;
-- without it, counts only.
-- Cluster: both keys share one slot (the hash's key holds the set's whole key as its hash tag).
-- KEYS[1] the hour's trending sorted set (member: item id; score: weighted count)
-- KEYS[2] the hour's shoppers hash (field: shopper and item id, live-state.ts `shopperItemField`, the shopper's
--         hashed id first, by which an erasure finds and deletes their fields; value: weight; field '': the hour),
--         only after a rebuild restarted the hour
-- ARGV[1] seconds the set lives after this write   ARGV[2] 'counts' or 'shoppers'
-- counts: ARGV[3], ARGV[4], ... weight, item id pairs
-- shoppers: ARGV[3], ARGV[4], ARGV[5], ... shopper-and-item field, item id, weight triples
-- Returns the number of items added to; -1: counts refused (the hour was restarted: send shoppers); -2: shoppers
-- refused (no shoppers hash: send counts). A refused call changes nothing.
local key, shoppers = KEYS[1], KEYS[2]
local restarted = redis.call('EXISTS', shoppers) == 1
local added = 0
if ARGV[2] == 'counts' then
  if restarted then return -1 end
  for i = 3, #ARGV, 2 do
    redis.call('ZINCRBY', key, ARGV[i], ARGV[i + 1])
    added = added + 1
  end
else
  if not restarted then return -2 end
  for i = 3, #ARGV, 3 do
    local weight = tonumber(ARGV[i + 2])
    local counted = tonumber(redis.call('HGET', shoppers, ARGV[i])) or 0
    if weight > counted then
      redis.call('HSET', shoppers, ARGV[i], weight)
      redis.call('ZINCRBY', key, weight - counted, ARGV[i + 1])
      added = added + 1
    end
  end
end
if added > 0 then redis.call('EXPIRE', key, ARGV[1]) end
return added
