-- Up Migration

-- Every ingested event adds a row to event_ids; its (ts) index cost an index entry per event on the hot write
-- path and served only `elevens events prune`, which now scans event_ids instead (a retention job, run rarely).
DROP INDEX event_ids_ts_idx;

-- Down Migration
CREATE INDEX event_ids_ts_idx ON event_ids (ts);
