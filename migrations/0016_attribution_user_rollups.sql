-- Up Migration

-- Attributed counts per hour of the event's own time, experiment, arm and user, for the answers that name an
-- experiment. Arms are sticky per user, so the user is the unit an experiment randomises: the reports sum each
-- user's counts over their window and test the arms on those sums (docs/attribution.md). The hourly roll-ups
-- cannot give them: squares of per-user sums do not add across hours. The key leads with the experiment and the
-- hour, the report's filter; the user_id index serves an erasure. The worker adds to it in the transaction that
-- adds to attribution_rollups, and `elevens rollups rebuild` rebuilds it with them; it starts empty, so the
-- hours before this migration have per-user rows once rebuilt.
CREATE TABLE attribution_user_rollups (
  experiment   text           NOT NULL,
  hour         timestamptz    NOT NULL,
  arm          text           NOT NULL,
  user_id      text           NOT NULL,
  impressions  bigint         NOT NULL DEFAULT 0,
  clicks       bigint         NOT NULL DEFAULT 0,
  purchases    bigint         NOT NULL DEFAULT 0,
  revenue      numeric(20, 2) NOT NULL DEFAULT 0,
  PRIMARY KEY (experiment, hour, arm, user_id)
);
CREATE INDEX attribution_user_rollups_user_idx ON attribution_user_rollups (user_id);

-- Down Migration
DROP TABLE attribution_user_rollups;
