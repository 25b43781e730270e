import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIngestApp, type IngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';

let infra: TestInfra;
let app: IngestApp;

beforeAll(async () => {
  infra = await createTestInfra('ingest-catalog-concurrent');
  app = await buildIngestApp({ config: loadIngestConfig(infra.env) });
  // A catalog of a real shop's size: Postgres then finds each sent item by its key, in the order sent.
  await infra.pool.query(
    "INSERT INTO items (item_id, category_id) SELECT 'sku-' || g, 'c' || (g % 50) FROM generate_series(1, 20000) g",
  );
  await infra.pool.query('ANALYZE items');
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

const putItems = (items: unknown[]) => app.inject({ method: 'PUT', url: '/v1/items', payload: { items } });

/** Resolves once `count` statements of this database wait for a lock (or after 5 s). */
async function untilStatementsWaitForLocks(count: number): Promise<void> {
  for (let waited = 0; waited < 500; waited++) {
    const { rows } = await infra.pool.query(
      "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if (rows.length >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('PUT /v1/items, concurrent writes of the same items', () => {
  it('stores two overlapping writes sent in opposite orders, without a deadlock', async () => {
    // A third writer holds sku-1 while the two requests arrive: the first waits for it holding nothing else, the
    // second takes what it takes before sku-1 and waits too; then both go on at once.
    const other = await infra.pool.connect();
    try {
      await other.query('BEGIN');
      await other.query("SELECT 1 FROM items WHERE item_id = 'sku-1' FOR UPDATE");
      const first = putItems([
        { itemId: 'sku-1', blocked: true },
        { itemId: 'sku-2', blocked: true },
      ]);
      await untilStatementsWaitForLocks(1);
      const second = putItems([
        { itemId: 'sku-2', available: false },
        { itemId: 'sku-1', available: false },
      ]);
      await untilStatementsWaitForLocks(2);
      await other.query('COMMIT');
      expect([(await first).statusCode, (await second).statusCode]).toEqual([200, 200]);
    } finally {
      other.release();
    }
    const { rows } = await infra.pool.query(
      "SELECT item_id, blocked, available FROM items WHERE item_id IN ('sku-1', 'sku-2') ORDER BY item_id",
    );
    expect(rows).toEqual([
      { item_id: 'sku-1', blocked: true, available: false },
      { item_id: 'sku-2', blocked: true, available: false },
    ]);
  });
});
