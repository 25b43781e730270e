import { setTimeout as sleep } from 'node:timers/promises';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('resilience-pressure');
});

afterAll(async () => {
  await infra?.close();
});

/** Keeps the event loop busy, as a CPU-bound burst of work would. */
function blockEventLoop(ms: number) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spinning on purpose
  }
}

const expectShed = (response: Awaited<ReturnType<FastifyInstance['inject']>>) => {
  expect(response.statusCode).toBe(503);
  expect(response.json()).toEqual({ error: 'unavailable', message: expect.stringMatching(/overloaded/) });
  expect(response.headers['retry-after']).toBe('3');
};

describe('load shedding', () => {
  it('answers 503 with Retry-After on both services while the heap is over its threshold; health checks still answer', async () => {
    // A ratio this small is exceeded by any heap: the services are "overloaded" from the first sample on.
    const env = {
      ...infra.env,
      LOG_LEVEL: 'silent',
      PRESSURE_MAX_HEAP_USED_RATIO: '0.000001',
      PRESSURE_SAMPLE_INTERVAL_MS: '10',
      PRESSURE_RETRY_AFTER_SECONDS: '3',
    };
    const api = await buildApiApp({ config: loadApiConfig(env) });
    const ingest = await buildIngestApp({ config: loadIngestConfig(env) });
    try {
      await sleep(50);
      expectShed(await api.inject({ method: 'GET', url: '/v1/recommendations?userId=u1' }));
      expectShed(
        await ingest.inject({
          method: 'POST',
          url: '/v1/events',
          payload: { userId: 'u1', itemId: 'i1', type: 'view' },
        }),
      );
      expect((await api.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      expect((await ingest.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    } finally {
      await Promise.all([api.close(), ingest.close()]);
    }
    const { rows } = await infra.pool.query('SELECT count(*)::int AS n FROM events');
    expect(rows[0].n).toBe(0);
  });

  it('sheds while the event loop lags and recovers by itself when the lag is gone', async () => {
    const api = await buildApiApp({
      config: loadApiConfig({
        ...infra.env,
        LOG_LEVEL: 'silent',
        PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '50',
        PRESSURE_SAMPLE_INTERVAL_MS: '100',
        PRESSURE_RETRY_AFTER_SECONDS: '3',
      }),
    });
    const recommend = () => api.inject({ method: 'GET', url: '/v1/recommendations?userId=u1' });
    try {
      await api.ready();
      // Block the loop across a sample, then let the sampler run before the request arrives.
      let shed: Awaited<ReturnType<typeof recommend>> | null = null;
      for (let attempt = 0; attempt < 10 && shed === null; attempt++) {
        blockEventLoop(400);
        await sleep(1);
        const response = await recommend();
        if (response.statusCode === 503) shed = response;
        else expect(response.statusCode).toBe(200);
      }
      expect(shed).not.toBeNull();
      expectShed(shed!);
      let recovered = false;
      for (let attempt = 0; attempt < 50 && !recovered; attempt++) {
        await sleep(100);
        recovered = (await recommend()).statusCode === 200;
      }
      expect(recovered).toBe(true);
    } finally {
      await api.close();
    }
  });
});
