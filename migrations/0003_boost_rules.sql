-- Up Migration

-- Merchandiser boosts and pins. Each PUT appends the whole rule set as a new version, so the history of who
-- changed what and when is kept; the newest row is the one in force (mirrored to Redis for serving).
CREATE TABLE boost_rules (
  version    bigserial   PRIMARY KEY,
  boosts     jsonb       NOT NULL DEFAULT '[]',
  pins       jsonb       NOT NULL DEFAULT '[]',
  updated_by text,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE boost_rules;
