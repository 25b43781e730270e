import { type ApiApp, buildApiApp, loadApiConfig } from '@elevens/api';
import { putExperiment } from '@elevens/db';
import { MIN_ARM_SHARE } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * An arm's share is at least MIN_ARM_SHARE (docs/attribution.md): a marketer's typo such as 1e-320 (a subnormal)
 * is a 400 naming the share, not an arm stored that no user is ever assigned to. An experiment stored before the
 * rule (or before the half-life's minimum) stays readable.
 */
const NOW_MS = Date.parse('2026-11-10T12:00:00Z');
let infra: TestInfra;
let app: ApiApp;

beforeAll(async () => {
  infra = await createTestInfra('experiments-arm-shares');
  app = await buildApiApp({
    config: loadApiConfig({ ...infra.env, LOG_LEVEL: 'silent' }),
    now: () => NOW_MS,
  });
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

const put = (id: string, shares: number[]) =>
  app.inject({
    method: 'PUT',
    url: `/v1/experiments/${id}`,
    payload: { arms: shares.map((share, i) => ({ name: `arm${i}`, share })), placement: id },
  });

describe('experiment arm shares', () => {
  it.each([
    ['subnormal', [0.5, 0.5, 1e-320]],
    ['below-min', [0.99995, 0.00005]],
    ['min-value', [Number.MIN_VALUE, 1]],
  ])('refuses a share below the minimum with 400 (%s)', async (id, shares) => {
    const response = await put(id, shares);
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({
      error: 'bad_request',
      message: expect.stringContaining('share'),
    });
    expect((await app.inject({ method: 'GET', url: `/v1/experiments/${id}` })).statusCode).toBe(404);
  });

  it('takes a share of exactly the minimum', async () => {
    const response = await put('smallest', [1 - MIN_ARM_SHARE, MIN_ARM_SHARE]);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json().arms[1].share).toBe(MIN_ARM_SHARE);
  });

  it('still reads and lists an experiment stored with a smaller share or half-life before their rules', async () => {
    await putExperiment(
      infra.pool,
      'legacy',
      {
        arms: [
          { name: 'a', share: 1 - 1e-9 },
          { name: 'b', share: 1e-9, settings: { historyHalfLifeHours: 1e-3 } },
        ],
        placement: 'legacy',
      },
      null,
      NOW_MS,
    );
    const read = await app.inject({ method: 'GET', url: '/v1/experiments/legacy' });
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json().arms[1].share).toBe(1e-9);
    const list = await app.inject({ method: 'GET', url: '/v1/experiments' });
    expect(list.statusCode, list.body).toBe(200);
  });
});
