import { buildIngestApp, type IngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, startTcpProxy, type TcpProxy, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let infra: TestInfra;
let proxy: TcpProxy;
let ingest: IngestApp;

beforeAll(async () => {
  infra = await createTestInfra('ingest-backlog');
  proxy = await startTcpProxy(infra.databaseUrl);
  // One write slot and groups of two events: the backlog bound is 2 × 1 × 2 = 4 queued events.
  ingest = await buildIngestApp({
    config: loadIngestConfig({
      ...infra.env,
      DATABASE_URL: proxy.url(infra.databaseUrl),
      INGEST_WRITE_CONCURRENCY: '1',
      INGEST_GROUP_MAX_EVENTS: '2',
      INGEST_GROUP_MAX_WAIT_MS: '0',
    }),
  });
  await ingest.ready();
});

afterAll(async () => {
  await ingest?.close();
  await proxy?.close();
  await infra?.close();
});

const post = (eventId: string) =>
  ingest.inject({
    method: 'POST',
    url: '/v1/events',
    payload: { eventId, userId: 'u1', itemId: 'i1', type: 'view' },
  });

describe('ingest while Postgres falls behind', () => {
  it('answers 503 with Retry-After once the queued events reach the bound, and stores what it took once Postgres answers', async () => {
    // The first write's statement and everything after it wait at the proxy: Postgres stalls mid-write.
    proxy.hold(/event_ids/);
    const taken = ['w0', 'q0', 'q1', 'q2', 'q3'].map(post);
    await proxy.whenHeld(/event_ids/);
    // Before the bound, this request joined the queue and waited for as long as Postgres did.
    const refused = await Promise.race([
      post('over'),
      new Promise<null>((resolve) => setTimeout(resolve, 2_000, null)),
    ]);
    proxy.release();
    expect(refused?.statusCode).toBe(503);
    expect(refused?.headers['retry-after']).toBe('1');
    expect(refused?.json()).toMatchObject({ error: 'unavailable' });
    const replies = await Promise.all(taken);
    expect(replies.map((r) => r.json().accepted)).toEqual([1, 1, 1, 1, 1]);
    const { rows } = await infra.pool.query('SELECT event_id FROM events ORDER BY event_id');
    expect(rows.map((r) => r.event_id)).toEqual(['q0', 'q1', 'q2', 'q3', 'w0']);
    expect((await post('over')).json()).toMatchObject({ accepted: 1 });
  }, 15_000);
});
