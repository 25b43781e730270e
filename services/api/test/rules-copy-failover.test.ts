import type { PushDecisionReply } from '@elevens/domain';
import { createLogSink, createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';
import { committedCheckPolls } from '../src/plugins/committed-copy';

let infra: TestInfra;
/** Two api processes on one Postgres and one Redis: each must put the copy right on its own polls. */
let apis: ApiApp[] = [];
const POLL_MS = 100;
/** Every decision is made at this instant, so no outcome depends on the time of day the tests run at. */
const NOW = Date.parse('2026-11-11T12:00:00.000Z');
const logs = createLogSink();

const build = () =>
  buildApiApp({
    config: loadApiConfig({
      ...infra.env,
      PUSH_CONFIG_POLL_MS: String(POLL_MS),
      BOOST_RULES_POLL_MS: String(POLL_MS),
    }),
    now: () => NOW,
    logging: { stream: logs.stream },
  });

beforeAll(async () => {
  infra = await createTestInfra('api-rules-copy-failover');
  apis = [await build(), await build()];
});

afterAll(async () => {
  await Promise.all(apis.map((api) => api.close()));
  await infra?.close();
});

/** Polls every api by hand as many times as one check interval holds (their timers poll meanwhile too). */
async function pollOneCheckInterval(refresh: (api: ApiApp) => Promise<void>) {
  for (let poll = 0; poll < committedCheckPolls(POLL_MS); poll++) await Promise.all(apis.map(refresh));
}

/** Puts back the values of `keys` saved earlier, as a failover to a replica that missed the writes since does. */
async function failOverTo(saved: Record<string, string | null>) {
  for (const [key, value] of Object.entries(saved)) {
    expect(value).not.toBeNull();
    await infra.redis.set(key, value!);
  }
}

async function save(keys: string[]): Promise<Record<string, string | null>> {
  const values = await infra.redis.mget(...keys);
  return Object.fromEntries(keys.map((key, i) => [key, values[i] ?? null]));
}

describe('a Redis copy of the rules that went back to an older committed version', () => {
  it('is replaced by the committed push config, and served so, within one check interval', async () => {
    const put = (limit: number) =>
      apis[0]!.inject({
        method: 'PUT',
        url: '/v1/push/rules/failover',
        payload: { channel: 'push', limit, window: '1h' },
      });
    expect((await put(5)).statusCode).toBe(200);
    const older = await save([infra.keys.pushConfig(), infra.keys.pushConfigVersion()]);
    expect((await put(0)).statusCode).toBe(200);
    await failOverTo(older);

    await pollOneCheckInterval((api) => api.pushConfig.refresh());
    for (const api of apis)
      expect(api.pushConfig.current().rules).toMatchObject([{ ruleId: 'failover', limit: 0 }]);
    const decision = await apis[1]!.inject({
      method: 'POST',
      url: '/v1/push/decisions',
      payload: { userId: 'u-failover', channel: 'push', campaignId: 'c-failover', dryRun: true },
    });
    expect(decision.json<PushDecisionReply>()).toMatchObject({ allowed: false, reason: 'cap_exceeded' });

    // A copy that matches Postgres is left as it is: no process takes a new version of the same config.
    const healed = await infra.redis.get(infra.keys.pushConfigVersion());
    await pollOneCheckInterval((api) => api.pushConfig.refresh());
    expect(await infra.redis.get(infra.keys.pushConfigVersion())).toBe(healed);
  });

  it('is replaced by the committed boost rules, and served so, within one check interval', async () => {
    const pin = (itemId: string) =>
      apis[0]!.inject({
        method: 'PUT',
        url: '/v1/rules/boosts',
        payload: { pins: [{ itemId, position: 1 }] },
      });
    expect((await pin('older')).statusCode).toBe(200);
    const older = await save([infra.keys.rulesBoosts(), infra.keys.rulesBoostsVersion()]);
    const newest = await pin('newest');
    expect(newest.statusCode).toBe(200);
    await failOverTo(older);

    await pollOneCheckInterval((api) => api.boostRules.refresh());
    for (const api of apis)
      expect(api.boostRules.current()).toMatchObject({
        version: newest.json().version,
        pins: [{ itemId: 'newest', position: 1 }],
      });
    expect(await infra.redis.get(infra.keys.rulesBoostsVersion())).toBe(String(newest.json().version));
  });
});
