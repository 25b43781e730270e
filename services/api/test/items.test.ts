import type { ItemListReply } from '@elevens/domain';
import { recordLiveEvents } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { publishFixtureModel, testApiConfig } from './recommendations-fixtures';

let infra: TestInfra;
let app: ApiApp;

beforeAll(async () => {
  infra = await createTestInfra('api-items');
  await publishFixtureModel(infra.redis, infra.keys);
  app = await buildApiApp({ config: testApiConfig(infra.env) });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

const get = async (url: string) => {
  const response = await app.inject({ method: 'GET', url });
  return { status: response.statusCode, body: response.json() as ItemListReply };
};
const pairs = (reply: ItemListReply) => reply.items.map((i) => [i.itemId, i.source]);

describe('GET /v1/items/:itemId/similar and /bought-together', () => {
  it('lists the served model neighbours, best first, up to limit', async () => {
    const { status, body } = await get('/v1/items/a0/similar?limit=2');
    expect(status).toBe(200);
    expect(body).toEqual({
      itemId: 'a0',
      modelVersion: 'v-fixture',
      items: [
        { itemId: 'a1', score: expect.closeTo(0.9, 6), source: 'similar' },
        { itemId: 'a2', score: expect.closeTo(0.8, 6), source: 'similar' },
      ],
    });
    expect(pairs((await get('/v1/items/a0/bought-together')).body)).toEqual([
      ['b3', 'bought_together'],
      ['b4', 'bought_together'],
    ]);
  });

  it('leaves out blocked or unavailable items', async () => {
    await infra.redis.sadd(infra.keys.catalogUnservable(), 'a1');
    await infra.redis.incr(infra.keys.catalogVersion());
    await app.catalog.refresh();
    expect(pairs((await get('/v1/items/a0/similar')).body)).toEqual([
      ['a2', 'similar'],
      ['b0', 'similar'],
    ]);
  });

  it('answers an empty list for a known item without neighbours, 404 for an unknown item, 400 for a bad limit', async () => {
    expect((await get('/v1/items/h5/similar')).body.items).toEqual([]);
    const unknown = await get('/v1/items/nope/similar');
    expect(unknown.status).toBe(404);
    expect((unknown.body as unknown as { error: string }).error).toBe('not_found');
    expect((await get('/v1/items/a0/bought-together?limit=0')).status).toBe(400);
    expect((await get('/v1/items/a0/similar?limit=101')).status).toBe(400);
  });
});

describe('GET /v1/trending', () => {
  it("starts from the model's trending list, topped up with popular items", async () => {
    expect(pairs((await get('/v1/trending?limit=3')).body)).toEqual([
      ['b1', 'trending'],
      ['h5', 'popular'],
      ['h4', 'popular'],
    ]);
  });

  it('blends in the live hourly counters ingest writes', async () => {
    const now = Date.now();
    await recordLiveEvents(
      infra.redis,
      infra.keys,
      ['u1', 'u2', 'u3'].map((userId) => ({ userId, itemId: 'g4', type: 'purchase', timestampMs: now })),
    );
    await app.model.refresh();
    const { body } = await get('/v1/trending?limit=2');
    expect(pairs(body)).toEqual([
      ['g4', 'trending'],
      ['b1', 'trending'],
    ]);
  });

  it('filters by category', async () => {
    expect(pairs((await get('/v1/trending?category=b&limit=2')).body)).toEqual([['b1', 'trending']]);
    expect(pairs((await get('/v1/trending?category=g&limit=2')).body)).toEqual([
      ['g4', 'trending'],
      ['g2', 'popular'],
    ]);
  });
});

describe('live trending at the api clock', () => {
  it("blends the live counters of the api's own hour, not the wall clock's", async () => {
    // An api whose clock is a festival night long past: only its hour's counters are live for it.
    const festivalMs = Date.parse('2026-11-11T00:40:00Z');
    const festival = await buildApiApp({ config: testApiConfig(infra.env), now: () => festivalMs });
    try {
      await recordLiveEvents(
        infra.redis,
        infra.keys,
        ['u7', 'u8'].map((userId) => ({ userId, itemId: 'g2', type: 'purchase', timestampMs: festivalMs })),
      );
      await festival.model.refresh();
      const response = await festival.inject({ method: 'GET', url: '/v1/trending?limit=1' });
      expect(pairs(response.json() as ItemListReply)).toEqual([['g2', 'trending']]);
    } finally {
      await festival.close();
    }
  });
});
