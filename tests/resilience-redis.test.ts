import { setTimeout as sleep } from 'node:timers/promises';
import { type CreatedApiKey, createApiKey } from '@elevens/db';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { readUserHistory } from '@elevens/redis-stores';
import {
  createLogSink,
  createTestInfra,
  startTcpProxy,
  type TcpProxy,
  type TestInfra,
} from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const EVENTS_LIMIT = 2;

let infra: TestInfra;
let proxy: TcpProxy;
let ingest: FastifyInstance;
let key: CreatedApiKey;
/** The outage's warnings, asserted below instead of printed among the test results. */
const logs = createLogSink();

beforeAll(async () => {
  infra = await createTestInfra('resilience-redis');
  proxy = await startTcpProxy(infra.redisUrl);
  key = await createApiKey(infra.pool, { name: 'backend', scopes: ['events:write'] });
  ingest = (await buildIngestApp({
    config: loadIngestConfig({
      ...infra.env,
      REDIS_URL: proxy.url(infra.redisUrl),
      AUTH_REQUIRED: 'true',
      RATE_LIMIT_EVENTS_WRITE: String(EVENTS_LIMIT),
      RATE_LIMIT_WINDOW: '1m',
      INGEST_LIVE_STATE_TIMEOUT_MS: '100',
    }),
    logging: { stream: logs.stream },
  })) as unknown as FastifyInstance;
  await ingest.ready();
});

afterAll(async () => {
  await ingest?.close();
  await proxy?.close();
  await infra?.close();
});

const postEvents = (prefix: string) =>
  ingest.inject({
    method: 'POST',
    url: '/v1/events',
    headers: { 'x-api-key': key.secret },
    payload: {
      events: Array.from({ length: 3 }, (_, i) => ({
        eventId: `${prefix}-${i}`,
        userId: 'u-redis',
        itemId: `i${i}`,
        type: 'view',
      })),
    },
  });

const storedCount = async (prefix: string) => {
  const { rows } = await infra.pool.query('SELECT count(*)::int AS n FROM events WHERE event_id LIKE $1', [
    `${prefix}-%`,
  ]);
  return rows[0].n as number;
};

async function readiness() {
  const response = await ingest.inject({ method: 'GET', url: '/readyz' });
  return { status: response.statusCode, checks: response.json().checks as Record<string, string> };
}

describe('Redis down, ingest', () => {
  it('keeps accepting events into Postgres, reports Redis down, and recovers without a restart', async () => {
    expect((await postEvents('before')).statusCode).toBe(200);

    await proxy.refuse();

    // More requests than the key's limit: with no counters to consult, limits are not enforced.
    for (let n = 0; n < EVENTS_LIMIT + 1; n++) {
      const response = await postEvents(`during-${n}`);
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toMatchObject({ accepted: 3, duplicates: 0 });
      expect(await storedCount(`during-${n}`)).toBe(3);
    }
    expect(logs.messages()).toContain('live state update failed');
    // Answered at once: no PING is queued on the disconnected client to wait for its reconnect attempts.
    const ping = vi.spyOn(Object.getPrototypeOf(infra.redis), 'ping');
    expect(await readiness()).toEqual({ status: 503, checks: { postgres: 'ok', redis: 'down' } });
    expect(ping).not.toHaveBeenCalled();
    ping.mockRestore();

    await proxy.restore();
    let ready = await readiness();
    for (let attempt = 0; attempt < 50 && ready.status !== 200; attempt++) {
      await sleep(200);
      ready = await readiness();
    }
    expect(ready).toEqual({ status: 200, checks: { postgres: 'ok', redis: 'ok' } });
    const after = await postEvents('after');
    expect(after.statusCode).toBe(200);
    expect(await readUserHistory(infra.redis, infra.keys, 'u-redis')).not.toHaveLength(0);
  });
});
