-- Up Migration

-- The attribution worker finds the last touch of a click, cart or purchase sent without a recommendationId: the
-- newest impression or click of the same user and item within the window. On (user_id, ts) each probe read
-- every event of the user in the window (about 45 in a day of shop traffic) to keep one or two; on
-- (user_id, item_id, ts) it reads just those. The index replaces (user_id, ts) rather than adding a third one
-- to the write path: the other readers (erasure, anonymisation) look events up by user_id alone.
CREATE INDEX events_user_item_ts_idx ON events (user_id, item_id, ts);
DROP INDEX events_user_ts_idx;

-- Down Migration
CREATE INDEX events_user_ts_idx ON events (user_id, ts);
DROP INDEX events_user_item_ts_idx;
