-- Up Migration

-- The model line a run builds and the Redis key prefix it publishes under: lines of several key prefixes may share
-- one database (docs/model.md), and `elevens model list` shows each run's line and lists only its own prefix's
-- runs. Runs recorded before name their line in params (`model`, since named lines exist; the default line before
-- them); their key prefix is unknown and stays null.
ALTER TABLE model_runs ADD COLUMN model_line text, ADD COLUMN key_prefix text;
UPDATE model_runs SET model_line = coalesce(params->>'model', 'default');

-- Down Migration
ALTER TABLE model_runs DROP COLUMN model_line, DROP COLUMN key_prefix;
