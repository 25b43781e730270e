import type { Pool } from '@elevens/db';

/** A click or purchase as a roll-ups test stores it: `answer` is the recommendation id it cites, if any. */
export interface AttributedEvent {
  id: string;
  user: string;
  type: 'click' | 'purchase';
  atMs: number;
  answer: string | null;
}

/**
 * Stores events as an import would, received before the attribution worker's watermark, so a roll-ups rebuild
 * counts them; each user's item is `i-<user>`, a purchase's price 10.
 */
export async function storeAttributedEvents(pool: Pool, events: readonly AttributedEvent[]): Promise<void> {
  for (const e of events)
    await pool.query(
      `INSERT INTO events (event_id, user_id, item_id, type, ts, recommendation_id, price, received_at)
       VALUES ($1, $2, 'i-' || $2, $3, to_timestamp($4 / 1000.0), $5, $6, '2020-01-01T00:00:00Z')`,
      [e.id, e.user, e.type, e.atMs, e.answer, e.type === 'purchase' ? 10 : null],
    );
}
