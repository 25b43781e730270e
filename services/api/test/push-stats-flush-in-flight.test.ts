import { epochHour } from '@elevens/redis-stores';
import {
  createLogSink,
  createTestInfra,
  startTcpProxy,
  type TcpProxy,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';

let infra: TestInfra;
/** Between the api and Redis: holds the counts a flush sends, so that flush stays in flight. */
let proxy: TcpProxy;
let app: ApiApp;
const NOW = Date.parse('2026-11-11T12:00:00.000Z');
const logs = createLogSink();

beforeAll(async () => {
  infra = await createTestInfra('api-push-stats-in-flight');
  proxy = await startTcpProxy(infra.redisUrl);
  app = await buildApiApp({
    // Flushed by the test alone: the timer's next flush is a minute away.
    config: loadApiConfig({
      ...infra.env,
      REDIS_URL: proxy.url(infra.redisUrl),
      PUSH_STATS_FLUSH_MS: '60000',
    }),
    now: () => NOW,
    logging: { stream: logs.stream },
  });
});

afterAll(async () => {
  await app?.close();
  await proxy?.close();
  await infra?.close();
});

describe('a push stats flush', () => {
  it('made while another is in flight answers once the counts that one took are in Redis', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/push/decisions',
      payload: { userId: 'u-in-flight', channel: 'push', campaignId: 'in-flight' },
    });
    expect(response.json()).toMatchObject({ allowed: true });
    const hourKey = infra.keys.pushStatsHour(epochHour(NOW));

    proxy.hold();
    const inFlight = app.pushStats.flush();
    // Read straight from Redis, past the proxy, the moment the second flush answers.
    const readWhenFlushed = app.pushStats.flush().then(() => infra.redis.hgetall(hourKey));
    await proxy.whenHeld(/EVALSHA|EVAL/i);
    proxy.release();
    await inFlight;
    expect(Object.values(await readWhenFlushed)).toEqual(['1']);
  });
});
