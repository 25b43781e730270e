/** SQL shared by the ingest write path and the importer (not exported from the package). */

export const EVENT_COLUMNS =
  'event_id, user_id, item_id, type, ts, session_id, recommendation_id, quantity, price, properties';

/**
 * Claims the ids (sorted, so concurrent writers take row locks in the same order and cannot deadlock) and
 * inserts the first occurrence of each newly claimed id. `input` must provide EVENT_COLUMNS plus `ord`.
 */
export const claimAndInsertSql = (input: string) => `
  WITH input AS (${input}),
  fresh AS (
    INSERT INTO event_ids (event_id, ts)
    SELECT event_id, ts FROM input ORDER BY event_id, ord
    ON CONFLICT DO NOTHING
    RETURNING event_id
  ),
  stored AS (
    INSERT INTO events (${EVENT_COLUMNS})
    SELECT DISTINCT ON (i.event_id) ${EVENT_COLUMNS.replace(/(\w+)/g, 'i.$1')}
    FROM input i JOIN fresh USING (event_id)
    ORDER BY i.event_id, i.ord
  )
  SELECT event_id FROM fresh`;
