import type { PutUserBody, UserProfile } from '@elevens/domain';
import { forgetUserRollups } from './attribution';
import { type Pool, type Queryable, withTransaction } from './pool';

interface UserRow {
  user_id: string;
  timezone: string | null;
  consent_personalization: boolean;
  consent_push: boolean;
  updated_at: Date;
  revision: number;
}

/** A stored profile and its revision, which orders its writes to the live state (migration 0013). */
export interface StoredUserProfile {
  profile: UserProfile;
  /** larger for every later write of any user, erasures included */
  revision: number;
}

const toStored = (row: UserRow): StoredUserProfile => ({
  profile: {
    userId: row.user_id,
    timezone: row.timezone,
    consent: { personalization: row.consent_personalization, push: row.consent_push },
    updatedAt: row.updated_at.toISOString(),
  },
  revision: row.revision,
});

/**
 * Serializes a user's profile writes and erasure until their transaction ends: a revision drawn after it orders
 * them as they commit, also when there is no row yet to lock (a profile created while its user is erased).
 */
const lockUser = (userIdParam: string) =>
  `SELECT pg_advisory_xact_lock(hashtextextended('elevens.user:' || ${userIdParam}::text, 0))`;

/**
 * Creates or updates a user's preferences; fields left out keep their stored values. The revision is drawn under
 * the user's lock (`lockUser`, held to the end of the statement's transaction), so of two concurrent writes, or a
 * write and an erasure, the one that commits last has the larger.
 */
export async function upsertUser(
  db: Queryable,
  userId: string,
  body: PutUserBody,
): Promise<StoredUserProfile> {
  const { rows } = await db.query<UserRow>(
    `WITH locked AS MATERIALIZED (${lockUser('$1')})
     INSERT INTO users (user_id, timezone, consent_personalization, consent_push, revision)
     SELECT $1, $2::text, coalesce($3::boolean, true), coalesce($4::boolean, true), nextval('user_profile_revisions')
     FROM locked
     ON CONFLICT (user_id) DO UPDATE SET
       timezone = coalesce($2, users.timezone),
       consent_personalization = coalesce($3, users.consent_personalization),
       consent_push = coalesce($4, users.consent_push),
       updated_at = now(),
       revision = excluded.revision
     RETURNING *`,
    [userId, body.timezone ?? null, body.consent?.personalization ?? null, body.consent?.push ?? null],
  );
  return toStored(rows[0]!);
}

/** Every stored profile, in pages of `pageSize` ordered by user id (the live-state rebuild restores them). */
export async function* readUserProfiles(
  db: Queryable,
  pageSize = 1_000,
): AsyncGenerator<StoredUserProfile[]> {
  let after: string | null = null;
  for (;;) {
    const { rows }: { rows: UserRow[] } = await db.query<UserRow>(
      'SELECT * FROM users WHERE $1::text IS NULL OR user_id > $1 ORDER BY user_id LIMIT $2',
      [after, pageSize],
    );
    if (rows.length === 0) return;
    yield rows.map(toStored);
    after = rows[rows.length - 1]!.user_id;
  }
}

export interface ErasedUserRows {
  events: number;
  profile: boolean;
}

/**
 * Deletes every row about a user (events, their idempotency keys, per-user roll-ups, profile) in one
 * transaction; the per-user roll-ups once a worker step or rebuild already writing them has committed
 * (`forgetUserRollups`), so the rows it wrote from events read before this erasure committed go too. It
 * calls `eraseCopy` with the erasure's revision before it commits (its failure commits nothing): a profile write
 * waits for the commit (`lockUser`), so one committed after the erasure reaches the copy after it too, and
 * carries a larger revision, which the copy keeps; one committed before carries a smaller one, which it refuses.
 */
export async function eraseUser<Copied>(
  pool: Pool,
  userId: string,
  eraseCopy: (revision: number) => Promise<Copied>,
): Promise<ErasedUserRows & { copied: Copied }> {
  return withTransaction(pool, async (client) => {
    await client.query(lockUser('$1'), [userId]);
    const events = await client.query<{ event_id: string }>(
      'DELETE FROM events WHERE user_id = $1 RETURNING event_id',
      [userId],
    );
    await client.query('DELETE FROM event_ids WHERE event_id = ANY($1::text[])', [
      events.rows.map((r) => r.event_id),
    ]);
    await forgetUserRollups(client, userId);
    const profile = await client.query('DELETE FROM users WHERE user_id = $1', [userId]);
    const { rows } = await client.query<{ revision: number }>(
      "SELECT nextval('user_profile_revisions') AS revision",
    );
    const copied = await eraseCopy(rows[0]!.revision);
    return { events: events.rowCount ?? 0, profile: (profile.rowCount ?? 0) > 0, copied };
  });
}
