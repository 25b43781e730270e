-- Up Migration

-- Which points of the assignment line (2^53 of them: the hash of experiment and user id) each arm holds, by the
-- arms' positions: a JSON array per arm of [start, end) slices. Kept across edits, so a change of shares moves only
-- the users it must (docs/attribution.md). NULL, the rows stored before it: the arms divide the line by their
-- shares in order.
ALTER TABLE experiments ADD COLUMN arm_slices jsonb;

-- Down Migration
ALTER TABLE experiments DROP COLUMN arm_slices;
