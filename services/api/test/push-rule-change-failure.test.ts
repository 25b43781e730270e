import type { PushDecisionReply, PushRuleView } from '@elevens/domain';
import {
  createLogSink,
  createTestInfra,
  startTcpProxy,
  type TcpProxy,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';

let infra: TestInfra;
let proxy: TcpProxy;
/** Reaches Postgres through the proxy: its rule changes are the ones cut off. */
let app: ApiApp;
/** Another api process, on Postgres directly: it serves whatever the Redis copy says. */
let other: ApiApp;
/** Every decision is made at this instant, so no outcome depends on the time of day the tests run at. */
const NOW = Date.parse('2026-11-11T12:00:00.000Z');
/** The cut connections' warnings, asserted nowhere, kept out of the test output. */
const logs = createLogSink();

const build = (env: Record<string, string>) =>
  buildApiApp({
    config: loadApiConfig({ ...env, PUSH_CONFIG_POLL_MS: '100' }),
    now: () => NOW,
    logging: { stream: logs.stream },
  });

beforeAll(async () => {
  infra = await createTestInfra('api-push-change-failure');
  proxy = await startTcpProxy(infra.databaseUrl);
  app = await build({ ...infra.env, DATABASE_URL: proxy.url(infra.databaseUrl) });
  other = await build(infra.env);
});

afterAll(async () => {
  await Promise.all([app?.close(), other?.close()]);
  await proxy?.close();
  await infra?.close();
});

const decide = async (on: ApiApp, userId: string): Promise<PushDecisionReply> => {
  const response = await on.inject({
    method: 'POST',
    url: '/v1/push/decisions',
    payload: { userId, channel: 'push', campaignId: `c-${userId}`, dryRun: true },
  });
  expect(response.statusCode).toBe(200);
  return response.json();
};

const storedRules = async (): Promise<PushRuleView[]> =>
  (await other.inject({ method: 'GET', url: '/v1/push/rules' })).json().rules;

/** Puts a rule blocking every push, and loses the change's commit as `lose` says (the proxy holds it meanwhile). */
async function putBlockingRuleLosingCommit(ruleId: string, lose: () => Promise<void>) {
  proxy.hold(/COMMIT/);
  const put = app.inject({
    method: 'PUT',
    url: `/v1/push/rules/${ruleId}`,
    payload: { channel: 'push', limit: 0, window: '1h' },
  });
  await proxy.whenHeld(/COMMIT/);
  await lose();
  // Clients' bytes pass again; the held COMMIT went to a connection that is gone.
  proxy.release();
  const response = await put;
  expect(response.statusCode).toBeGreaterThanOrEqual(500);
}

describe('a push rule change that is not stored', () => {
  it('is served by no api process when its commit is cut off', async () => {
    await putBlockingRuleLosingCommit('cut-off', async () => proxy.cut());
    expect(await storedRules()).toEqual([]);
    expect(app.pushConfig.current().rules).toEqual([]);
    expect(await decide(app, 'u-cut')).toMatchObject({ allowed: true, reason: 'ok' });
    await other.pushConfig.refresh();
    expect(other.pushConfig.current().rules).toEqual([]);
    expect(await decide(other, 'u-cut')).toMatchObject({ allowed: true, reason: 'ok' });
  });

  it('is served by no api process when its commit is cut off with idle connections of its pool', async () => {
    // Reads at once leave the pool idle connections; the cut ends them too, and the pool hears of it only once
    // their end is read: the re-copy can be handed one of them.
    await Promise.all([1, 2, 3].map(() => app.inject({ method: 'GET', url: '/v1/push/rules' })));
    await putBlockingRuleLosingCommit('cut-off-idle', async () => proxy.cut());
    expect(app.pushConfig.current().rules).toEqual([]);
    expect(await decide(app, 'u-cut-idle')).toMatchObject({ allowed: true, reason: 'ok' });
    await other.pushConfig.refresh();
    expect(other.pushConfig.current().rules).toEqual([]);
  });

  it('stops being served at the first poll after Postgres is back, when it was away at the failure', async () => {
    await putBlockingRuleLosingCommit('while-away', () => proxy.refuse());
    expect(await storedRules()).toEqual([]);
    await proxy.restore();
    await vi.waitFor(
      async () => {
        await other.pushConfig.refresh();
        expect(app.pushConfig.current().rules).toEqual([]);
        expect(other.pushConfig.current().rules).toEqual([]);
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(await decide(other, 'u-away')).toMatchObject({ allowed: true, reason: 'ok' });
  });
});
