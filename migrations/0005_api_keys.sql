-- Up Migration

-- API keys. Only a SHA-256 of each secret is kept: a secret is 32 random bytes, so no dictionary or brute force
-- reaches it through a fast hash, and verifying a request stays one hash and one lookup. Revoked keys stay for
-- the audit trail; serving processes load the rows with revoked_at IS NULL.
CREATE TABLE api_keys (
  id          text        PRIMARY KEY,
  name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  scopes      text[]      NOT NULL CHECK (
                            cardinality(scopes) > 0
                            AND scopes <@ ARRAY['recommendations:read', 'events:write', 'push:decide', 'admin']::text[]
                          ),
  secret_hash bytea       NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);

-- Down Migration
DROP TABLE api_keys;
