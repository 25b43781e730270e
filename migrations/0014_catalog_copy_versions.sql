-- Up Migration

-- The versions that committed catalog writes and restores reached in the Redis copy of the unservable items,
-- each written in the transaction of the write that copied it. Their largest is the newest copy Postgres knows of:
-- a Redis whose version is below it went back (a failover to a replica that lagged) and is restored, even when it
-- holds a set marked whole. One row per write, no row updated, so concurrent writes never wait for each other
-- here; a version inserted twice means two writes copied it to two Redis histories. Writes prune the rows far
-- below their own, a restore every row below its version.
CREATE TABLE catalog_copy_versions (
  version bigint PRIMARY KEY
);

-- Down Migration
DROP TABLE catalog_copy_versions;
