import { setTimeout as sleep } from 'node:timers/promises';
import { LIVE_HISTORY_LENGTH, readUserHistory } from '@elevens/redis-stores';
import {
  createLogSink,
  createTestInfra,
  startTcpProxy,
  type TcpProxy,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIngestApp, type IngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';

let infra: TestInfra;
let proxy: TcpProxy;
let app: IngestApp;
const logs = createLogSink();

beforeAll(async () => {
  infra = await createTestInfra('ingest-lost-commit-reply');
  // This file's own database commits a write holding a `slow-` id 400 ms late (a deferred trigger runs as it
  // commits): long enough to cut the connection while the commit is under way, so Postgres commits and its reply
  // is lost.
  await infra.pool.query(`
    CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.event_id LIKE 'slow-%' AND current_setting('test.slept', true) IS DISTINCT FROM 'yes' THEN
        PERFORM set_config('test.slept', 'yes', true);
        PERFORM pg_sleep(0.4);
      END IF;
      RETURN NULL;
    END $$;
    CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON event_ids DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW EXECUTE FUNCTION slow_commit();`);
  proxy = await startTcpProxy(infra.databaseUrl);
  app = await buildIngestApp({
    config: loadIngestConfig({ ...infra.env, DATABASE_URL: proxy.url(infra.databaseUrl) }),
    logging: { stream: logs.stream },
  });
});

afterAll(async () => {
  await app?.close();
  await proxy?.close();
  await infra?.close();
});

const view = (eventId: string, userId: string, itemId = eventId) => ({
  eventId,
  userId,
  itemId,
  type: 'view',
  timestamp: '2026-11-11T00:00:00Z',
});
const post = (events: unknown[]) => app.inject({ method: 'POST', url: '/v1/events', payload: { events } });

/** Sends `events` and, once ingest's write is committing (in the trigger's sleep), cuts its connections. */
async function postCutWhileCommitting(events: unknown[], cut: () => unknown = () => proxy.cut()) {
  const reply = post(events);
  let committing = 0;
  for (let attempt = 0; attempt < 200 && committing === 0; attempt++) {
    await sleep(10);
    const { rows } = await infra.pool.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'elevens-ingest' AND wait_event = 'PgSleep'`,
    );
    committing = rows[0].n;
  }
  expect(committing).toBe(1);
  await cut();
  return reply;
}

/** The user's live history, newest first. */
const historyItems = async (userId: string) =>
  (await readUserHistory(infra.redis, infra.keys, userId)).map((entry) => entry.itemId);

describe('a commit whose reply is lost', () => {
  it('is found committed: the events are acknowledged and reach the live history, once (one statement)', async () => {
    const events = [view('slow-s1', 'u-stmt'), view('slow-s2', 'u-stmt')];
    const reply = await postCutWhileCommitting(events);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    expect(await historyItems('u-stmt')).toEqual(['slow-s2', 'slow-s1']);
    const resent = await post(events);
    expect(resent.json()).toEqual({ accepted: 0, duplicates: 2, rejected: [] });
    expect(await historyItems('u-stmt')).toEqual(['slow-s2', 'slow-s1']);
  });

  it('is found committed on the binary COPY path too', async () => {
    const events = Array.from({ length: 450 }, (_, n) =>
      view(`slow-c${String(n).padStart(3, '0')}`, 'u-copy'),
    );
    const reply = await postCutWhileCommitting(events);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toEqual({ accepted: 450, duplicates: 0, rejected: [] });
    const history = await historyItems('u-copy');
    expect(history).toHaveLength(LIVE_HISTORY_LENGTH);
    expect(new Set(history).size).toBe(LIVE_HISTORY_LENGTH);
  });

  it('answers events stored before as duplicates and applies only those it stored', async () => {
    expect((await post([view('done-1', 'u-mixed', 'before')])).json()).toMatchObject({ accepted: 1 });
    const reply = await postCutWhileCommitting([
      view('done-1', 'u-mixed', 'before'),
      view('slow-m1', 'u-mixed'),
    ]);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toEqual({ accepted: 1, duplicates: 1, rejected: [] });
    expect(await historyItems('u-mixed')).toEqual(['slow-m1', 'before']);
  });

  it('answers 503 and says what to run when Postgres cannot be asked', async () => {
    const reply = await postCutWhileCommitting([view('slow-r1', 'u-refused')], () => proxy.refuse());
    await proxy.restore();
    expect(reply.statusCode, reply.body).toBe(503);
    expect(logs.messages().some((m) => m.includes('rebuild-live-state'))).toBe(true);
  });
});
