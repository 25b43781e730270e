-- Up Migration

-- Where `elevens events prune` cut the events off, the latest cut-off of every prune run (one with a longer
-- retention deletes nothing more and leaves it). Events before it may be gone: the hour holding it keeps only its
-- later events, and the clicks, carts and purchases of the attribution window after it lost the touches they were
-- attributed to. Those hours' roll-ups, counted before the prune, are whole; `elevens rollups rebuild` reads this
-- row and refuses to replace them with what the events still hold. A prune records it before deleting anything,
-- so one stopped midway is recorded too. One row, none before the first prune.
CREATE TABLE event_prune_cut_off (
  singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
  cut_off    timestamptz NOT NULL,
  pruned_at  timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE event_prune_cut_off;
