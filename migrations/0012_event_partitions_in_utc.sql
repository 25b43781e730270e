-- Up Migration
-- Monthly event partitions are UTC months whatever the session's time zone. 0001 added one month to the month's
-- start in the session's time zone: west of UTC, March then ended on the 28th at 23:00 UTC and November overlapped
-- December, which could not be created at all; and the months ahead were counted from now() there, which on some
-- evenings skipped one (Los Angeles on April 30 at 20:00: May, May, July). Partitions 0001 made in such a session
-- keep their bounds; `elevens migrate` runs in UTC, so a database it created has none.
CREATE OR REPLACE FUNCTION elevens_ensure_event_partition(at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  month_utc   timestamp   := date_trunc('month', at AT TIME ZONE 'UTC');
  month_start timestamptz := month_utc AT TIME ZONE 'UTC';
  month_end   timestamptz := (month_utc + interval '1 month') AT TIME ZONE 'UTC';
  part_name   text        := 'events_' || to_char(month_utc, 'YYYY_MM');
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

-- Partitions for the current UTC month and the next `months_ahead` months.
CREATE OR REPLACE FUNCTION elevens_ensure_event_partitions(months_ahead integer DEFAULT 2) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 0..months_ahead LOOP
    PERFORM elevens_ensure_event_partition(
      (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i)) AT TIME ZONE 'UTC');
  END LOOP;
END;
$$;

-- Down Migration
-- Nothing: the functions 0001 defined were wrong outside UTC, and these are right in UTC too.
