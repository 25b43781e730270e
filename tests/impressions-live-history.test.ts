import { rebuildLiveState } from '@elevens/ingest';
import { readUserHistory, replaceUserLiveState } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkThinPath, sendJson, startThinPath, type ThinPath } from './support/thin-path';

/**
 * A storefront posts an impression for every item it shows (docs/attribution.md): a shopper's shelves must not
 * push their views out of the history the api reads, nor stop the reply cache from answering.
 */
let infra: TestInfra;
let path: ThinPath;

interface Answer {
  recommendationId: string;
  personalized: boolean;
  items: { itemId: string; source: string; because?: string[] }[];
}

const SHOPPER = 'shelf-browser';
const NOW = Date.now();

async function recommendations(): Promise<Answer> {
  const response = await fetch(`${path.apiUrl}/v1/recommendations?userId=${SHOPPER}&limit=10`);
  expect(response.status).toBe(200);
  return (await response.json()) as Answer;
}

async function post(events: Record<string, unknown>[]) {
  const reply = await sendJson(`${path.ingestUrl}/v1/events`, 'POST', { events });
  expect(reply.status).toBe(200);
  expect(reply.body.rejected).toEqual([]);
}

beforeAll(async () => {
  infra = await createTestInfra('impressions-history');
  path = await startThinPath(infra);
  await checkThinPath(path, infra, { users: 150, items: 80, events: 6_000, seed: 23 });
});

afterAll(async () => {
  await path?.close();
  await infra?.close();
});

describe("a shopper's shelves of impressions", () => {
  let viewed: string;
  let first: Answer;

  it('leave the views in the live history, and the answer personal and the same', async () => {
    const { rows } = await infra.pool.query<{ item_id: string }>(
      `SELECT item_id FROM events WHERE type = 'view' GROUP BY item_id ORDER BY count(*) DESC, item_id LIMIT 1`,
    );
    viewed = rows[0]!.item_id;
    await post([{ eventId: 'v-1', userId: SHOPPER, itemId: viewed, type: 'view', timestamp: NOW - 60_000 }]);
    first = await recommendations();
    expect(first.personalized).toBe(true);
    expect(first.items[0]!.because).toContain(viewed);
    const stamp = await infra.redis.get(infra.keys.userStamp(SHOPPER));

    // Six shelves of the answer's ten items, as the storefront shows them, and a removal from the cart.
    const shelves = Array.from({ length: 6 }, (_, shelf) =>
      first.items.map((item, slot) => ({
        eventId: `imp-${shelf}-${slot}`,
        userId: SHOPPER,
        itemId: item.itemId,
        type: 'impression',
        recommendationId: first.recommendationId,
        timestamp: NOW - 50_000 + shelf * 1_000 + slot,
      })),
    ).flat();
    await post([
      ...shelves,
      { eventId: 'rm-1', userId: SHOPPER, itemId: viewed, type: 'remove_cart', timestamp: NOW - 40_000 },
    ]);

    const history = await readUserHistory(infra.redis, infra.keys, SHOPPER);
    expect(history.map((e) => [e.type, e.itemId])).toEqual([['view', viewed]]);
    expect(await infra.redis.get(infra.keys.userStamp(SHOPPER))).toBe(stamp);
    const after = await recommendations();
    expect(after.personalized).toBe(true);
    expect(after.items).toEqual(first.items);
    const { rows: stored } = await infra.pool.query(
      `SELECT type, count(*)::int AS n FROM events WHERE user_id = $1 GROUP BY type ORDER BY type`,
      [SHOPPER],
    );
    expect(stored).toEqual([
      { type: 'impression', n: 60 },
      { type: 'remove_cart', n: 1 },
      { type: 'view', n: 1 },
    ]);
  });

  it('stay out of a live history rebuilt from Postgres', async () => {
    await replaceUserLiveState(infra.redis, infra.keys, [{ userId: SHOPPER, history: [], purchased: [] }]);
    expect(await readUserHistory(infra.redis, infra.keys, SHOPPER)).toEqual([]);
    await rebuildLiveState(infra.pool, infra.redis, infra.keys, { sinceMs: NOW - 3_600_000 });
    const history = await readUserHistory(infra.redis, infra.keys, SHOPPER);
    expect(history.map((e) => [e.type, e.itemId])).toEqual([['view', viewed]]);
    const after = await recommendations();
    expect(after.personalized).toBe(true);
    expect(after.items).toEqual(first.items);
  });
});
