import type { BoostRulesReply } from '@elevens/domain';
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
/** The cut connections' warnings, asserted nowhere, kept out of the test output. */
const logs = createLogSink();

const build = (env: Record<string, string>) =>
  buildApiApp({
    config: loadApiConfig({ ...env, BOOST_RULES_POLL_MS: '100' }),
    logging: { stream: logs.stream },
  });

beforeAll(async () => {
  infra = await createTestInfra('api-boost-change-failure');
  proxy = await startTcpProxy(infra.databaseUrl);
  app = await build({ ...infra.env, DATABASE_URL: proxy.url(infra.databaseUrl) });
  other = await build(infra.env);
});

afterAll(async () => {
  await Promise.all([app?.close(), other?.close()]);
  await proxy?.close();
  await infra?.close();
});

const storedRules = async (): Promise<BoostRulesReply> =>
  (await other.inject({ method: 'GET', url: '/v1/rules/boosts' })).json();

/** Pins `itemId` first, and loses the change's commit as `lose` says (the proxy holds it meanwhile). */
async function pinLosingCommit(itemId: string, lose: () => Promise<void>) {
  proxy.hold(/COMMIT/);
  const put = app.inject({
    method: 'PUT',
    url: '/v1/rules/boosts',
    payload: { pins: [{ itemId, position: 1 }] },
  });
  await proxy.whenHeld(/COMMIT/);
  await lose();
  // Clients' bytes pass again; the held COMMIT went to a connection that is gone.
  proxy.release();
  const response = await put;
  expect(response.statusCode).toBeGreaterThanOrEqual(500);
}

describe('a boost rule change that is not stored', () => {
  it('is served by no api process when its commit is cut off', async () => {
    await pinLosingCommit('cut-off', async () => proxy.cut());
    expect((await storedRules()).pins).toEqual([]);
    await Promise.all([app.boostRules.refresh(), other.boostRules.refresh()]);
    expect(app.boostRules.current().pins).toEqual([]);
    expect(other.boostRules.current().pins).toEqual([]);
  });

  it('stops being served at the first poll after Postgres is back, when it was away at the failure', async () => {
    await pinLosingCommit('while-away', () => proxy.refuse());
    expect((await storedRules()).pins).toEqual([]);
    await proxy.restore();
    await vi.waitFor(
      async () => {
        await Promise.all([app.boostRules.refresh(), other.boostRules.refresh()]);
        expect(app.boostRules.current().pins).toEqual([]);
        expect(other.boostRules.current().pins).toEqual([]);
      },
      { timeout: 10_000, interval: 50 },
    );
  });

  it('leaves a later change served', async () => {
    const put = await app.inject({
      method: 'PUT',
      url: '/v1/rules/boosts',
      payload: { pins: [{ itemId: 'kept', position: 2 }] },
    });
    expect(put.statusCode).toBe(200);
    await other.boostRules.refresh();
    expect(other.boostRules.current()).toMatchObject({
      version: put.json().version,
      pins: [{ itemId: 'kept', position: 2 }],
    });
  });
});
