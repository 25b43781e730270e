-- Up Migration

-- The attribution worker reads the events received since its watermark. received_at grows with the order rows
-- are appended, so a BRIN index finds the newest ones for a few dozen bytes per 32 pages, where a b-tree would
-- add an entry per event to the ingest write path. autosummarize keeps the ranges of old pages summarised.
CREATE INDEX events_received_at_brin ON events USING brin (received_at) WITH (pages_per_range = 32, autosummarize = on);

-- Attributed counts per hour of the event's own time and per answer dimension (see docs/attribution.md).
-- kind: 'recommendation' or 'push' (the answer id said so), 'unknown' (an id we did not issue), 'none' (nothing
-- to attribute to: still counted, so hourly totals come from here too). '' stands for a dimension the answer
-- did not have, so the key has no NULLs.
CREATE TABLE attribution_rollups (
  hour           timestamptz      NOT NULL,
  kind           text             NOT NULL CHECK (kind IN ('recommendation', 'push', 'unknown', 'none')),
  model_version  text             NOT NULL DEFAULT '',
  placement      text             NOT NULL DEFAULT '',
  experiment     text             NOT NULL DEFAULT '',
  arm            text             NOT NULL DEFAULT '',
  campaign       text             NOT NULL DEFAULT '',
  events         bigint           NOT NULL DEFAULT 0,
  impressions    bigint           NOT NULL DEFAULT 0,
  clicks         bigint           NOT NULL DEFAULT 0,
  carts          bigint           NOT NULL DEFAULT 0,
  purchases      bigint           NOT NULL DEFAULT 0,
  units          bigint           NOT NULL DEFAULT 0,
  revenue        numeric(20, 2)   NOT NULL DEFAULT 0,
  revenue_sq     double precision NOT NULL DEFAULT 0,
  PRIMARY KEY (hour, kind, model_version, placement, experiment, arm, campaign)
);
CREATE INDEX attribution_rollups_experiment_idx ON attribution_rollups (experiment, hour) WHERE experiment <> '';

-- One row: every event received before `watermark` is in the roll-ups, none after it. The worker advances it
-- in the transaction that adds the counts, so a batch counts once or not at all. It starts now: the events
-- stored before this migration are added by `elevens rollups rebuild`.
CREATE TABLE attribution_state (
  id         boolean     PRIMARY KEY DEFAULT true CHECK (id),
  watermark  timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO attribution_state (watermark) VALUES (now());

-- A/B experiments between serving configurations. The version row is bumped by every change, so the api polls
-- one integer and reloads the set only when it moved.
CREATE TABLE experiments (
  id         text        PRIMARY KEY,
  arms       jsonb       NOT NULL,
  placement  text,
  starts_at  timestamptz,
  ends_at    timestamptz,
  updated_by text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at)
);

CREATE TABLE experiments_version (
  id      boolean PRIMARY KEY DEFAULT true CHECK (id),
  version bigint  NOT NULL
);
INSERT INTO experiments_version (version) VALUES (0);

-- Down Migration
DROP TABLE experiments_version;
DROP TABLE experiments;
DROP TABLE attribution_state;
DROP TABLE attribution_rollups;
DROP INDEX events_received_at_brin;
