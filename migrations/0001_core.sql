-- Up Migration

-- Every event, partitioned by month of its own timestamp. Monthly partitions are created ahead by
-- elevens_ensure_event_partitions(); anything outside them lands in the default partition, so an import of
-- years-old history is never refused.
CREATE TABLE events (
  event_id          text        NOT NULL,
  user_id           text        NOT NULL,
  item_id           text        NOT NULL,
  type              text        NOT NULL CHECK (type IN ('view', 'cart', 'remove_cart', 'purchase', 'fav', 'impression', 'click')),
  ts                timestamptz NOT NULL,
  session_id        text,
  recommendation_id text,
  quantity          integer,
  price             numeric(14, 2),
  properties        jsonb,
  received_at       timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (ts);

CREATE TABLE events_default PARTITION OF events DEFAULT;

-- The build job reads a time window; erasure and exclusion read one user's events.
CREATE INDEX events_ts_idx ON events (ts);
CREATE INDEX events_user_ts_idx ON events (user_id, ts);

-- Idempotency keys. A unique index on a partitioned table must include the partition key, which would let a
-- retried event with a new server-side timestamp through; this table is the one place an event id is unique.
CREATE TABLE event_ids (
  event_id text        PRIMARY KEY,
  ts       timestamptz NOT NULL
);
CREATE INDEX event_ids_ts_idx ON event_ids (ts);

-- Creates the monthly partition holding `at` when it does not exist yet. Rows already in the default partition
-- for that month are moved into the new partition, because Postgres refuses to attach a range the default holds.
CREATE FUNCTION elevens_ensure_event_partition(at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  month_start timestamptz := date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  month_end   timestamptz := month_start + interval '1 month';
  part_name   text := 'events_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
  IF to_regclass(part_name) IS NOT NULL THEN
    RETURN part_name;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext(part_name));
  IF to_regclass(part_name) IS NOT NULL THEN
    RETURN part_name;
  END IF;
  EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part_name);
  EXECUTE format('WITH moved AS (DELETE FROM events_default WHERE ts >= %L AND ts < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
                 month_start, month_end, part_name);
  EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part_name, month_start, month_end);
  RETURN part_name;
END;
$$;

-- Partitions for the current month and the next `months_ahead` months.
CREATE FUNCTION elevens_ensure_event_partitions(months_ahead integer DEFAULT 2) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 0..months_ahead LOOP
    PERFORM elevens_ensure_event_partition(now() + make_interval(months => i));
  END LOOP;
END;
$$;

SELECT elevens_ensure_event_partitions(2);

CREATE TABLE items (
  item_id      text        PRIMARY KEY,
  category_id  text,
  title        text,
  price        numeric(14, 2),
  available    boolean     NOT NULL DEFAULT true,
  blocked      boolean     NOT NULL DEFAULT false,
  tags         text[]      NOT NULL DEFAULT '{}',
  published_at timestamptz,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX items_category_idx ON items (category_id);

CREATE TABLE users (
  user_id                 text        PRIMARY KEY,
  timezone                text,
  consent_personalization boolean     NOT NULL DEFAULT true,
  consent_push            boolean     NOT NULL DEFAULT true,
  updated_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE model_runs (
  id              bigserial   PRIMARY KEY,
  version         text        NOT NULL UNIQUE,
  algorithm       text        NOT NULL,
  params          jsonb       NOT NULL DEFAULT '{}',
  input_counts    jsonb       NOT NULL DEFAULT '{}',
  phase_durations jsonb       NOT NULL DEFAULT '{}',
  peak_rss_bytes  bigint,
  status          text        NOT NULL CHECK (status IN ('running', 'published', 'rejected', 'failed')),
  metrics         jsonb,
  error           text,
  started_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz
);
CREATE INDEX model_runs_started_idx ON model_runs (started_at DESC);

-- Down Migration
DROP TABLE model_runs;
DROP TABLE users;
DROP TABLE items;
DROP FUNCTION elevens_ensure_event_partitions(integer);
DROP FUNCTION elevens_ensure_event_partition(timestamptz);
DROP TABLE event_ids;
DROP TABLE events;
