import type { RecommendationsReply } from '@elevens/domain';
import { publishModel } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { fixtureModel, ITEM_IDS, testApiConfig } from './recommendations-fixtures';

/**
 * Item ids may hold commas (ExternalId), which `exclude`'s comma-separated form cannot carry: `excludeItem` takes
 * one whole id per parameter, repeated for several, alongside `exclude`.
 */
let infra: TestInfra;
let app: ApiApp;

/** The fixture model with its two most popular items named with commas. */
const COMMA_IDS: Record<string, string> = { h5: 'h,5', h4: 'sku,4' };

beforeAll(async () => {
  infra = await createTestInfra('api-recommendations-exclude');
  await publishModel(infra.redis, infra.keys, {
    ...fixtureModel('v-commas'),
    itemIds: ITEM_IDS.map((id) => COMMA_IDS[id] ?? id),
  });
  app = await buildApiApp({ config: testApiConfig(infra.env) });
  await app.model.refresh();
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

const get = (query: string) =>
  app.inject({ method: 'GET', url: `/v1/recommendations?userId=cold&limit=6&${query}` });
const ids = async (query: string) => {
  const response = await get(query);
  expect(response.statusCode, query).toBe(200);
  return (response.json() as RecommendationsReply).items.map((i) => i.itemId);
};

describe('GET /v1/recommendations excluding items', () => {
  it('answers the cold fallbacks without exclusions, commas and all', async () => {
    expect(await ids('')).toEqual(['b1', 'h,5', 'sku,4', 'h3', 'b5', 'a0']);
  });

  it('excludes an id holding a comma sent whole in excludeItem', async () => {
    expect(await ids('excludeItem=h%2C5')).toEqual(['b1', 'sku,4', 'h3', 'b5', 'a0', 'a1']);
  });

  it('excludes every repeated excludeItem, together with the comma-separated exclude', async () => {
    // Then the catalog in index order, at most three of a category.
    expect(await ids('excludeItem=h%2C5&exclude=b1,h3&excludeItem=sku%2C4')).toEqual([
      'b5',
      'a0',
      'a1',
      'a2',
      'b0',
      'b2',
    ]);
  });

  it('keeps the comma-separated form as it was: a comma there separates ids', async () => {
    expect(await ids('exclude=h%2C5,b1')).toEqual(['h,5', 'sku,4', 'h3', 'b5', 'a0', 'a1']);
  });

  it('refuses with 400, never 500, what is no list of ids or too long a one', async () => {
    const many = (name: string, n: number, from = 0) =>
      Array.from({ length: n }, (_, k) => `${name}=x${from + k}`).join('&');
    for (const query of [
      'excludeItem=',
      'excludeItem=a%00b',
      `excludeItem=${'x'.repeat(129)}`,
      'excludeItem=a&excludeItem=',
      many('excludeItem', 201),
      `exclude=${Array.from({ length: 150 }, (_, k) => `y${k}`).join(',')}&${many('excludeItem', 51)}`,
      'exclude=a&exclude=b',
    ]) {
      const response = await get(query);
      expect(response.statusCode, query.slice(0, 60)).toBe(400);
      expect(response.json(), query.slice(0, 60)).toMatchObject({
        error: 'bad_request',
        message: expect.any(String),
      });
    }
  });

  it('takes up to 200 ids in all', async () => {
    const query = `exclude=${Array.from({ length: 150 }, (_, k) => `y${k}`).join(',')}&${Array.from(
      { length: 50 },
      (_, k) => `excludeItem=x${k}`,
    ).join('&')}`;
    expect(await ids(query)).toHaveLength(6);
  });
});
