import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { ANONYMOUS_USER_PREFIX, type EventType, eventTimeProblem } from '@elevens/domain';
import { from as copyFrom } from 'pg-copy-streams';
import { claimAndInsertSql } from './event-sql';
import { copyTextField } from './events';
import { OLDEST_PARTITIONED_MS } from './partitions';
import { connectClient, type Pool, type PoolClient, releaseClient } from './pool';

/** One event of a bulk import; its id should be derived from the row, so re-importing a file is a no-op. */
export interface ImportEventRow {
  eventId: string;
  userId: string;
  itemId: string;
  type: EventType;
  /** epoch ms, within the bounds ingest sets (`eventTimeProblem`): from 1970 on, at most a day ahead */
  timestampMs: number;
  sessionId: string | null;
  /** when set, the item is upserted into the catalog with this category */
  categoryId: string | null;
}

export interface ImportTotals {
  rows: number;
  inserted: number;
  duplicates: number;
  /**
   * rows older than the cut-off `elevens events prune` recorded, not stored: their ids may have been forgotten, so
   * a re-import would store them a second time, into months the prune left partial (ingest refuses them too)
   */
  beforePruneCutOff: number;
  /** catalog items created or whose category changed */
  catalogItems: number;
}

export interface EventImportOptions {
  /** rows per COPY + merge transaction: bounds memory on the server and the size of a retry after a failure */
  chunkRows?: number;
  /** the clock the bound in the future is read from (epoch ms; default `Date.now`) */
  now?: () => number;
}

const LINES_PER_WRITE = 1_000;

interface OpenChunk {
  client: PoolClient;
  copy: ReturnType<typeof copyFrom>;
  rows: number;
  /** lines not yet handed to the COPY stream: one write per line would cost more than the line */
  pending: string[];
  /** set when the COPY stream fails; surfaced by the next write or the commit */
  error: Error | null;
}

/**
 * Streams rows into Postgres with COPY (pg-copy-streams) into a temporary staging table, then merges each chunk
 * in the same transaction: rows older than the prune cut-off left out (`lockPruneCutOffForMerge`), partitions made on
 * demand, categories into the catalog, ids claimed in `event_ids` (duplicates skipped), events of users without
 * personalization consent anonymised as on the ingest path.
 */
export class EventImport {
  private chunk: OpenChunk | null = null;
  private readonly totals: ImportTotals = {
    rows: 0,
    inserted: 0,
    duplicates: 0,
    beforePruneCutOff: 0,
    catalogItems: 0,
  };
  private readonly chunkRows: number;
  private readonly now: () => number;

  constructor(
    private readonly pool: Pool,
    options: EventImportOptions = {},
  ) {
    this.chunkRows = options.chunkRows ?? 50_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Appends one row; resolves when the COPY stream can take more (back-pressure). A row whose time ingest would
   * refuse is rejected with a RangeError before anything of it is written: the import goes on with the next row.
   */
  async write(row: ImportEventRow): Promise<void> {
    const timeProblem = eventTimeProblem(row.timestampMs, this.now());
    if (timeProblem !== null) {
      throw new RangeError(`event ${row.eventId}: timestamp ${row.timestampMs}: ${timeProblem}`);
    }
    const chunk = this.chunk ?? (await this.openChunk());
    if (chunk.error) {
      await this.abort();
      throw chunk.error;
    }
    const line =
      [
        row.eventId,
        row.userId,
        row.itemId,
        row.type,
        new Date(row.timestampMs).toISOString(),
        row.sessionId,
        row.categoryId,
        chunk.rows + 1,
      ]
        .map(copyTextField)
        .join('\t') + '\n';
    chunk.rows++;
    chunk.pending.push(line);
    if (chunk.pending.length >= LINES_PER_WRITE) await this.writePending(chunk);
    if (chunk.rows >= this.chunkRows) await this.commitChunk();
  }

  /** Commits the last chunk and returns the totals. */
  async finish(): Promise<ImportTotals> {
    await this.commitChunk();
    return { ...this.totals };
  }

  /** Rolls back the open chunk (earlier chunks stay committed). */
  async abort(): Promise<void> {
    const chunk = this.chunk;
    if (!chunk) return;
    this.chunk = null;
    chunk.copy.destroy();
    await chunk.client.query('ROLLBACK').catch(() => {});
    releaseClient(chunk.client, true);
  }

  /** What has been committed so far. */
  progress(): Readonly<ImportTotals> {
    return this.totals;
  }

  private async writePending(chunk: OpenChunk): Promise<void> {
    const text = chunk.pending.join('');
    chunk.pending = [];
    if (!chunk.copy.write(text)) await Promise.race([once(chunk.copy, 'drain'), once(chunk.copy, 'close')]);
  }

  private async openChunk(): Promise<OpenChunk> {
    const client = await connectClient(this.pool);
    try {
      await client.query('BEGIN');
      await client.query(
        `CREATE TEMP TABLE import_staging (event_id text NOT NULL, user_id text NOT NULL, item_id text NOT NULL,
           type text NOT NULL, ts timestamptz NOT NULL, session_id text, category_id text, ord bigint NOT NULL)
         ON COMMIT DROP`,
      );
      const copy = client.query(
        copyFrom(
          'COPY import_staging (event_id, user_id, item_id, type, ts, session_id, category_id, ord) FROM STDIN',
        ),
      );
      const chunk: OpenChunk = { client, copy, rows: 0, pending: [], error: null };
      copy.on('error', (error: Error) => {
        chunk.error = error;
      });
      this.chunk = chunk;
      return chunk;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      releaseClient(client);
      throw error;
    }
  }

  private async commitChunk(): Promise<void> {
    const chunk = this.chunk;
    if (!chunk) return;
    const { client, copy, rows } = chunk;
    try {
      await this.writePending(chunk);
      copy.end();
      await finished(copy);
      // Read unlocked (`lockPruneCutOffForMerge` locks): a prune recording its cut-off meanwhile costs an empty month.
      const months = await client.query<{ month: Date }>(
        `SELECT DISTINCT date_trunc('month', ts, 'UTC') AS month FROM import_staging s
         WHERE ts >= $1 AND NOT EXISTS (SELECT 1 FROM event_prune_cut_off c WHERE s.ts < c.cut_off)`,
        [new Date(OLDEST_PARTITIONED_MS).toISOString()],
      );
      for (const { month } of months.rows) {
        await client.query('SELECT elevens_ensure_event_partition($1)', [month.toISOString()]);
      }
      const catalog = await client.query(
        `INSERT INTO items (item_id, category_id)
         SELECT DISTINCT ON (item_id) item_id, category_id FROM import_staging
         WHERE category_id IS NOT NULL ORDER BY item_id, ord DESC
         ON CONFLICT (item_id) DO UPDATE SET category_id = EXCLUDED.category_id, updated_at = now()
         WHERE items.category_id IS DISTINCT FROM EXCLUDED.category_id`,
      );
      const { cutOff, beforeCutOff } = await lockPruneCutOffForMerge(client);
      const fresh = await client.query(
        claimAndInsertSql(
          `SELECT s.event_id,
                  CASE WHEN u.user_id IS NULL THEN s.user_id ELSE $1 || gen_random_uuid() END AS user_id,
                  s.item_id, s.type, s.ts,
                  CASE WHEN u.user_id IS NULL THEN s.session_id END AS session_id,
                  NULL::text AS recommendation_id, NULL::int AS quantity, NULL::numeric AS price,
                  NULL::jsonb AS properties, s.ord
           FROM import_staging s
           LEFT JOIN users u ON u.user_id = s.user_id AND NOT u.consent_personalization
           WHERE s.ts >= $2::timestamptz`,
        ),
        [ANONYMOUS_USER_PREFIX, cutOff],
      );
      await client.query('COMMIT');
      this.chunk = null;
      releaseClient(client);
      const inserted = fresh.rowCount ?? 0;
      this.totals.rows += rows;
      this.totals.inserted += inserted;
      this.totals.duplicates += rows - inserted - beforeCutOff;
      this.totals.beforePruneCutOff += beforeCutOff;
      this.totals.catalogItems += catalog.rowCount ?? 0;
    } catch (error) {
      await this.abort();
      throw error;
    }
  }
}

/**
 * Locks `event_ids` for writing, as the merge that follows does, then reads the prune cut-off (`-infinity` when
 * none is recorded; as text, so it goes back to the merge exactly) and how many staged rows are older. Locked
 * first, as the ingest writer does: a prune records its cut-off only once the writes that may have read the one
 * before have committed (`pruneEvents`), so its deletions see this chunk's rows, or this chunk sees its cut-off.
 * Locked after the partitions are made, which may wait for a long read of the events: the lock is held no longer
 * than the merge's own.
 */
async function lockPruneCutOffForMerge(
  client: PoolClient,
): Promise<{ cutOff: string; beforeCutOff: number }> {
  await client.query('LOCK TABLE event_ids IN ROW EXCLUSIVE MODE');
  const { rows } = await client.query<{ cut_off: string; before_cut_off: number }>(
    `SELECT c.cut_off::text, (SELECT count(*)::int FROM import_staging s WHERE s.ts < c.cut_off) AS before_cut_off
     FROM (SELECT COALESCE(max(cut_off), '-infinity') AS cut_off FROM event_prune_cut_off) c`,
  );
  const row = rows[0]!;
  return { cutOff: row.cut_off, beforeCutOff: row.before_cut_off };
}
