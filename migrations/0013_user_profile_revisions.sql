-- Up Migration

-- Ingest writes a user's profile to Postgres, then to Redis, where the serving paths read consent and time zone.
-- Two updates of one user in flight (a consent withdrawn right after it was given, a client's retry) commit in
-- one order and could reach Redis in the other, leaving Redis with consent Postgres no longer holds. Each write
-- takes a revision from one sequence under the row's lock, so a later commit always carries a larger one, also
-- after an erasure re-creates the user, and Redis keeps the profile with the largest it has seen.
CREATE SEQUENCE user_profile_revisions;
ALTER TABLE users ADD COLUMN revision bigint NOT NULL DEFAULT 0;
ALTER TABLE users ALTER COLUMN revision SET DEFAULT nextval('user_profile_revisions');

-- Down Migration
ALTER TABLE users DROP COLUMN revision;
DROP SEQUENCE user_profile_revisions;
