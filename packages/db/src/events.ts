import type { Readable } from 'node:stream';
import type { StoredEvent } from '@elevens/domain';
import { to as copyTo } from 'pg-copy-streams';
import { type Pool, type PoolClient, type Queryable, withTransaction } from './pool';

const MONTH_MS_KEY = (ms: number) => new Date(ms).toISOString().slice(0, 7);

/** Months whose partition this process has already made sure of. */
const knownPartitions = new Set<string>();

async function ensurePartitions(client: Queryable, events: readonly StoredEvent[]): Promise<void> {
  const missing = new Map<string, number>();
  for (const e of events) {
    const month = MONTH_MS_KEY(e.timestampMs);
    if (!knownPartitions.has(month) && !missing.has(month)) missing.set(month, e.timestampMs);
  }
  for (const [month, ms] of missing) {
    await client.query('SELECT elevens_ensure_event_partition($1)', [new Date(ms).toISOString()]);
    knownPartitions.add(month);
  }
}

export interface InsertEventsResult {
  /** The events that were new and are now committed, in input order. */
  inserted: StoredEvent[];
  duplicates: number;
}

/**
 * Stores events once each: ids already in `event_ids` (or repeated within the batch) count as duplicates.
 * Runs in one transaction, so the result describes exactly what was committed.
 */
export async function insertEvents(pool: Pool, events: readonly StoredEvent[]): Promise<InsertEventsResult> {
  if (events.length === 0) return { inserted: [], duplicates: 0 };
  await ensurePartitions(pool, events);
  return withTransaction(pool, (client) => insertEventsInTransaction(client, events));
}

async function insertEventsInTransaction(
  client: PoolClient,
  events: readonly StoredEvent[],
): Promise<InsertEventsResult> {
  const claimed = await client.query<{ event_id: string }>(
    `INSERT INTO event_ids (event_id, ts)
     SELECT * FROM unnest($1::text[], $2::timestamptz[])
     ON CONFLICT DO NOTHING RETURNING event_id`,
    [events.map((e) => e.eventId), events.map((e) => new Date(e.timestampMs).toISOString())],
  );
  const fresh = new Set(claimed.rows.map((r) => r.event_id));
  const inserted: StoredEvent[] = [];
  for (const e of events) {
    if (fresh.delete(e.eventId)) inserted.push(e);
  }
  if (inserted.length > 0) {
    await client.query(
      `INSERT INTO events (event_id, user_id, item_id, type, ts, session_id, recommendation_id, quantity, price, properties)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[],
                            $8::int[], $9::numeric[], $10::jsonb[])`,
      [
        inserted.map((e) => e.eventId),
        inserted.map((e) => e.userId),
        inserted.map((e) => e.itemId),
        inserted.map((e) => e.type),
        inserted.map((e) => new Date(e.timestampMs).toISOString()),
        inserted.map((e) => e.sessionId),
        inserted.map((e) => e.recommendationId),
        inserted.map((e) => e.quantity),
        inserted.map((e) => e.price),
        inserted.map((e) => (e.properties === null ? null : JSON.stringify(e.properties))),
      ],
    );
  }
  return { inserted, duplicates: events.length - inserted.length };
}

export interface EventWindow {
  /** inclusive lower bound, epoch ms */
  fromMs: number;
  /** inclusive upper bound, epoch ms */
  toMs: number;
}

/** The timestamp of the newest event, or null for an empty table. */
export async function newestEventMs(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ max: Date | null }>('SELECT max(ts) AS max FROM events');
  return rows[0]?.max ? rows[0].max.getTime() : null;
}

/**
 * Streams the events of a window as text-format COPY rows `user_id \t item_id \t type \t epoch_ms \t session_id`,
 * so the build job never holds the table as JS objects. The caller must call `release()` when the stream ends.
 */
export async function copyEventsOut(
  pool: Pool,
  window: EventWindow,
): Promise<{ stream: Readable; release: () => void }> {
  const client = await pool.connect();
  const from = new Date(window.fromMs).toISOString();
  const to = new Date(window.toMs).toISOString();
  const sql = `COPY (SELECT user_id, item_id, type, (extract(epoch FROM ts) * 1000)::bigint, session_id
                FROM events WHERE ts >= '${from}' AND ts <= '${to}') TO STDOUT`;
  const stream = client.query(copyTo(sql));
  let released = false;
  const release = () => {
    if (!released) {
      released = true;
      client.release();
    }
  };
  stream.on('error', release);
  return { stream, release };
}
