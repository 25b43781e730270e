import type { PutUserBody, UserProfile } from '@elevens/domain';
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
 * Creates or updates a user's preferences; fields left out keep their stored values. The revision is drawn under
 * the row's lock, so of two concurrent writes the one that commits last has the larger.
 */
export async function upsertUser(
  db: Queryable,
  userId: string,
  body: PutUserBody,
): Promise<StoredUserProfile> {
  const { rows } = await db.query<UserRow>(
    `INSERT INTO users (user_id, timezone, consent_personalization, consent_push)
     VALUES ($1, $2, coalesce($3, true), coalesce($4, true))
     ON CONFLICT (user_id) DO UPDATE SET
       timezone = coalesce($2, users.timezone),
       consent_personalization = coalesce($3, users.consent_personalization),
       consent_push = coalesce($4, users.consent_push),
       updated_at = now(),
       revision = nextval('user_profile_revisions')
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

/** Deletes every row about a user (events, their idempotency keys, profile) in one transaction. */
export async function eraseUser(pool: Pool, userId: string): Promise<ErasedUserRows> {
  return withTransaction(pool, async (client) => {
    const events = await client.query<{ event_id: string }>(
      'DELETE FROM events WHERE user_id = $1 RETURNING event_id',
      [userId],
    );
    await client.query('DELETE FROM event_ids WHERE event_id = ANY($1::text[])', [
      events.rows.map((r) => r.event_id),
    ]);
    const profile = await client.query('DELETE FROM users WHERE user_id = $1', [userId]);
    return { events: events.rowCount ?? 0, profile: (profile.rowCount ?? 0) > 0 };
  });
}
