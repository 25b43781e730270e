import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIngestApp, type IngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';

let infra: TestInfra;
let app: IngestApp;

beforeAll(async () => {
  infra = await createTestInfra('ingest-group-retry');
  // Data Postgres refuses though it passes validation: this file's own database refuses one item id.
  await infra.pool.query("ALTER TABLE events ADD CONSTRAINT refused_item CHECK (item_id <> 'refused')");
  app = await buildIngestApp({
    config: loadIngestConfig({
      ...infra.env,
      INGEST_GROUP_MAX_WAIT_MS: '50',
      INGEST_WRITE_CONCURRENCY: '1',
      PG_POOL_SIZE: '10',
    }),
  });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

const post = (events: unknown[]) => app.inject({ method: 'POST', url: '/v1/events', payload: { events } });
const event = (eventId: string, itemId = 'i1') => ({
  eventId,
  userId: `u-${eventId}`,
  itemId,
  type: 'view',
  timestamp: '2026-11-11T00:00:00Z',
});

/** The ingest pool's connections: the pool opens one only when all it holds are in use, and keeps it idle 10 s. */
async function ingestConnections(): Promise<number> {
  const { rows } = await infra.pool.query(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'elevens-ingest'",
  );
  return rows[0].n;
}

describe('a failed group', () => {
  it('is written again within its write slot, leaving the pool to reads, and fails only the bad request', async () => {
    expect((await post([event('warm')])).statusCode).toBe(200);
    // The lead request is written alone; the others arrive during its write and are committed as one group,
    // which the bad request fails.
    const lead = post([event('lead')]);
    const others = Array.from({ length: 150 }, (_, n) => post([event(`g${n}`, n === 75 ? 'refused' : 'i1')]));
    const replies = await Promise.all([lead, ...others]);
    const statuses = replies.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 400)).toHaveLength(1);
    expect(statuses[76]).toBe(400);
    expect(statuses.filter((s) => s === 200)).toHaveLength(150);
    const { rows } = await infra.pool.query(
      "SELECT count(*)::int AS n, count(DISTINCT xmin::text)::int AS transactions FROM events WHERE event_id = 'lead' OR event_id LIKE 'g%'",
    );
    expect(rows[0].n).toBe(150);
    // The lead's transaction, then the group's halves: about 2·log2(150), not one transaction per request.
    expect(rows[0].transactions).toBeLessThanOrEqual(1 + 2 * Math.ceil(Math.log2(150)));
    // One write slot needs one connection: retrying every request at once had the pool open all ten, reads waiting.
    expect(await ingestConnections()).toBeLessThanOrEqual(2);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});
