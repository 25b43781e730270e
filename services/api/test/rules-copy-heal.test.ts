import type { PushDecisionReply } from '@elevens/domain';
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
/** An api process that stays up, on Postgres directly: the one that must put the Redis copies right. */
let other: ApiApp;
/** Every decision is made at this instant, so no outcome depends on the time of day the tests run at. */
const NOW = Date.parse('2026-11-11T12:00:00.000Z');
/** The failed changes' warnings, asserted nowhere, kept out of the test output. */
const logs = createLogSink();
/**
 * The grace every api process here gives an unconfirmed mark, shortened from UNCONFIRMED_GRACE_MS (2 s, as
 * committed-copy.test.ts asserts) and still three polls long, so that each test waits well past it in under a second.
 */
const GRACE_MS = 300;

const build = (env: Record<string, string>) =>
  buildApiApp({
    config: loadApiConfig({ ...env, PUSH_CONFIG_POLL_MS: '100', BOOST_RULES_POLL_MS: '100' }),
    now: () => NOW,
    logging: { stream: logs.stream },
    unconfirmedGraceMs: GRACE_MS,
  });

/** An api process reaching Postgres through the proxy: its changes are the ones held or lost. */
const buildBehindProxy = () => build({ ...infra.env, DATABASE_URL: proxy.url(infra.databaseUrl) });

beforeAll(async () => {
  infra = await createTestInfra('api-rules-copy-heal');
  proxy = await startTcpProxy(infra.databaseUrl);
  other = await build(infra.env);
});

afterAll(async () => {
  await other?.close();
  await proxy?.close();
  await infra?.close();
});

/** Long enough for a mark to pass its grace on a loaded machine, short of the test timeout. */
const HEALED = { timeout: GRACE_MS + 15_000, interval: 100 };

const blockingRule = (ruleId: string) => ({
  method: 'PUT' as const,
  url: `/v1/push/rules/${ruleId}`,
  payload: { channel: 'push', limit: 0, window: '1h' },
});
const pin = (itemId: string) => ({
  method: 'PUT' as const,
  url: '/v1/rules/boosts',
  payload: { pins: [{ itemId, position: 1 }] },
});

const decide = async (userId: string): Promise<PushDecisionReply> => {
  const response = await other.inject({
    method: 'POST',
    url: '/v1/push/decisions',
    payload: { userId, channel: 'push', campaignId: `c-${userId}`, dryRun: true },
  });
  expect(response.statusCode).toBe(200);
  return response.json();
};

/**
 * Sends `request` to a new api process behind the proxy, takes Postgres away at its commit (so the copy is
 * written and the commit, and every re-copy the process tries, fails), then stops that process: the copy it
 * wrote is left for the others to put right.
 */
async function loseChangeAndStop(request: ReturnType<typeof blockingRule> | ReturnType<typeof pin>) {
  const dying = await buildBehindProxy();
  proxy.hold(/COMMIT/);
  const answer = dying.inject(request);
  await proxy.whenHeld(/COMMIT/);
  await proxy.refuse();
  proxy.release();
  expect((await answer).statusCode).toBeGreaterThanOrEqual(500);
  await dying.close();
  await proxy.restore();
}

/**
 * Sends `request` to a new api process behind the proxy and holds its commit for well past the grace (the other
 * process's polls see the change's mark meanwhile), then lets it commit.
 */
async function holdChangeInFlight(request: ReturnType<typeof blockingRule> | ReturnType<typeof pin>) {
  const slow = await buildBehindProxy();
  try {
    proxy.hold(/COMMIT/);
    const answer = slow.inject(request);
    await proxy.whenHeld(/COMMIT/);
    await new Promise((resolve) => setTimeout(resolve, 2 * GRACE_MS + 500));
    proxy.release();
    const response = await answer;
    expect(response.statusCode).toBe(200);
    return response.json();
  } finally {
    await slow.close();
  }
}

describe('a rule change copied to Redis whose process stopped before its commit', () => {
  it('is no longer enforced by the api processes left (push rules)', async () => {
    await loseChangeAndStop(blockingRule('lost-push'));
    expect((await other.inject({ method: 'GET', url: '/v1/push/rules' })).json().rules).toEqual([]);
    await vi.waitFor(async () => {
      await other.pushConfig.refresh();
      expect(other.pushConfig.current().rules).toEqual([]);
      expect(await infra.redis.smembers(infra.keys.pushConfigUnconfirmed())).toEqual([]);
    }, HEALED);
    expect(await decide('u-lost')).toMatchObject({ allowed: true, reason: 'ok' });
  });

  it('is no longer served by the api processes left (boost rules)', async () => {
    await loseChangeAndStop(pin('lost-pin'));
    expect((await other.inject({ method: 'GET', url: '/v1/rules/boosts' })).json().pins).toEqual([]);
    await vi.waitFor(async () => {
      await other.boostRules.refresh();
      expect(other.boostRules.current().pins).toEqual([]);
      expect(await infra.redis.smembers(infra.keys.rulesBoostsUnconfirmed())).toEqual([]);
    }, HEALED);
  });
});

describe('a rule change in flight past the grace', () => {
  it('is enforced once committed, not undone by another process (push rules)', async () => {
    const stored = await holdChangeInFlight(blockingRule('slow-push'));
    expect(stored).toMatchObject({ ruleId: 'slow-push', limit: 0 });
    await vi.waitFor(async () => {
      await other.pushConfig.refresh();
      expect(other.pushConfig.current().rules).toMatchObject([{ ruleId: 'slow-push', limit: 0 }]);
    }, HEALED);
    expect(await infra.redis.smembers(infra.keys.pushConfigUnconfirmed())).toEqual([]);
    expect(await decide('u-slow')).toMatchObject({ allowed: false, reason: 'cap_exceeded' });
  });

  it('is served once committed, not undone by another process (boost rules)', async () => {
    const stored = await holdChangeInFlight(pin('slow-pin'));
    await vi.waitFor(async () => {
      await other.boostRules.refresh();
      expect(other.boostRules.current()).toMatchObject({
        version: stored.version,
        pins: [{ itemId: 'slow-pin', position: 1 }],
      });
    }, HEALED);
    expect(await infra.redis.smembers(infra.keys.rulesBoostsUnconfirmed())).toEqual([]);
  });
});

describe('boost rules Redis lost mid-run', () => {
  it('are copied back by a running process, so one started while Postgres is away serves them too', async () => {
    const put = await other.inject(pin('kept-pin'));
    expect(put.statusCode).toBe(200);
    await infra.redis.del(infra.keys.rulesBoosts(), infra.keys.rulesBoostsVersion());
    await proxy.refuse();
    const started = await buildBehindProxy();
    try {
      await vi.waitFor(async () => {
        await started.boostRules.refresh().catch(() => {});
        expect(started.boostRules.current()).toMatchObject({
          version: put.json().version,
          pins: [{ itemId: 'kept-pin', position: 1 }],
        });
      }, HEALED);
    } finally {
      await started.close();
      await proxy.restore();
    }
  });
});
