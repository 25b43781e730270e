import { decodeAnswerId, type RecommendationsReply } from '@elevens/domain';
import { recordLiveEvents, writeUserProfile } from '@elevens/redis-stores';
import {
  createLogSink,
  createTestInfra,
  startTcpProxy,
  type TcpProxy,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { recommendFor } from '../src/recommendations-service';
import { publishFixtureModel, testApiConfig } from './recommendations-fixtures';

let infra: TestInfra;
let app: ApiApp;
/** between the API and Redis, so the last test can cut the connection */
let redisProxy: TcpProxy;
const logs = createLogSink();

beforeAll(async () => {
  infra = await createTestInfra('api-recommendations');
  redisProxy = await startTcpProxy(infra.redisUrl);
  app = await buildApiApp({
    config: testApiConfig({ ...infra.env, REDIS_URL: redisProxy.url(infra.redisUrl) }),
    logging: { stream: logs.stream },
  });
});

afterAll(async () => {
  await app.close();
  await redisProxy.close();
  await infra.close();
});

const get = async (query: string) => {
  const response = await app.inject({ method: 'GET', url: `/v1/recommendations?${query}` });
  return { status: response.statusCode, body: response.json() as RecommendationsReply };
};
const ids = (reply: RecommendationsReply) => reply.items.map((i) => i.itemId);
const sources = (reply: RecommendationsReply) => reply.items.map((i) => [i.itemId, i.source]);
const HOUR_MS = 3_600_000;
/** Events a few hours old by default: they count in the history but not in the live trending hours. */
const live = (userId: string, type: string, itemId: string, agoMs = 3 * HOUR_MS) =>
  recordLiveEvents(infra.redis, infra.keys, [{ userId, itemId, type, timestampMs: Date.now() - agoMs }]);

describe('GET /v1/recommendations', () => {
  it('answers degraded with no items before any model is published', async () => {
    const { status, body } = await get('userId=u0');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      userId: 'u0',
      modelVersion: null,
      personalized: false,
      degraded: true,
      items: [],
    });
    await publishFixtureModel(infra.redis, infra.keys);
    await app.model.refresh();
  });

  it('answers in the documented shape, 10 items by default, and refuses a limit outside 1–100', async () => {
    const { status, body } = await get('userId=shape');
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(
      [
        'degraded',
        'items',
        'modelVersion',
        'nextCursor',
        'personalized',
        'recommendationId',
        'userId',
      ].sort(),
    );
    // The id names what the answer came from, so events citing it can be attributed without a lookup.
    expect(decodeAnswerId(body.recommendationId)).toMatchObject({
      kind: 'recommendation',
      modelVersion: 'v-fixture',
      placement: 'home',
      experiment: null,
      arm: null,
    });
    expect(body).toMatchObject({
      userId: 'shape',
      modelVersion: 'v-fixture',
      personalized: false,
      degraded: false,
    });
    expect(body.items).toHaveLength(10);
    for (const limit of ['0', '101', 'x']) {
      const bad = await app.inject({ method: 'GET', url: `/v1/recommendations?userId=shape&limit=${limit}` });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error).toBe('bad_request');
    }
    expect((await get('userId=shape&limit=100')).body.items).toHaveLength(24);
  });

  it('changes the next answer after a freshly ingested event, without a rebuild', async () => {
    const before = await get('userId=fresh&limit=3');
    expect(before.body.personalized).toBe(false);
    await live('fresh', 'view', 'a0', 0);
    const after = await get('userId=fresh&limit=3');
    expect(after.body.personalized).toBe(true);
    expect(after.body.items).toEqual([
      { itemId: 'a1', score: expect.any(Number), source: 'personal', because: ['a0'] },
      { itemId: 'a2', score: expect.any(Number), source: 'personal', because: ['a0'] },
      { itemId: 'b0', score: expect.any(Number), source: 'personal', because: ['a0'] },
    ]);
    // The event also counted in live trending; later tests expect the model's trending list alone.
    const hour = Math.floor(Date.now() / HOUR_MS);
    await infra.redis.del(infra.keys.trendingHour(hour), infra.keys.trendingHour(hour - 1));
    await app.model.refresh();
  });

  it('weights recent carts above older views', async () => {
    await live('weights', 'view', 'h0', 5 * 24 * HOUR_MS);
    await live('weights', 'cart', 'g0');
    expect(ids((await get('userId=weights&limit=2')).body)).toEqual(['g1', 'h1']);
  });

  it('never returns blocked, unavailable, purchased, excluded or just-viewed items; repurchasable ones return', async () => {
    await live('rules', 'view', 'a0');
    await live('rules', 'purchase', 'a1');
    await live('rules', 'purchase', 'g0');
    await infra.redis.sadd(infra.keys.catalogUnservable(), 'a2');
    await infra.redis.incr(infra.keys.catalogVersion());
    await app.catalog.refresh();
    const { body } = await get('userId=rules&limit=100&exclude=b0,h5');
    const returned = ids(body);
    for (const never of ['a0', 'a1', 'a2', 'b0', 'h5']) expect(returned).not.toContain(never);
    expect(returned).toContain('g0');
    expect(returned).toHaveLength(24 - 5);
    await infra.redis.srem(infra.keys.catalogUnservable(), 'a2');
    await infra.redis.incr(infra.keys.catalogVersion());
    await app.catalog.refresh();
  });

  it('keeps at most RECS_MAX_PER_CATEGORY items of one category while others are eligible', async () => {
    await live('diverse', 'view', 'a1');
    const { body } = await get('userId=diverse&limit=12');
    const perCategory = new Map<string, number>();
    for (const id of ids(body)) perCategory.set(id[0]!, (perCategory.get(id[0]!) ?? 0) + 1);
    expect(body.items).toHaveLength(12);
    expect(Math.max(...perCategory.values())).toBe(3);
  });

  it('falls back to category-popular, then trending, then popular', async () => {
    await live('thin', 'view', 'a1');
    expect(sources((await get('userId=thin&limit=6')).body)).toEqual([
      ['a0', 'personal'],
      ['a3', 'personal'],
      ['a5', 'popular'],
      ['b1', 'trending'],
      ['h5', 'popular'],
      ['h4', 'popular'],
    ]);
    expect(sources((await get('userId=cold&limit=5')).body)).toEqual([
      ['b1', 'trending'],
      ['h5', 'popular'],
      ['h4', 'popular'],
      ['h3', 'popular'],
      ['b5', 'popular'],
    ]);
    expect(ids((await get('userId=cold&limit=6&category=a')).body)).toEqual([
      'a5',
      'a4',
      'a3',
      'a0',
      'a1',
      'a2',
    ]);
  });

  it('blends the product page item neighbours with the history, and uses bought-together in the cart', async () => {
    await live('shopper', 'view', 'h0');
    const product = await get('userId=shopper&limit=4&context=product&itemId=a0');
    expect(sources(product.body)).toEqual([
      ['a1', 'similar'],
      ['a2', 'similar'],
      ['h1', 'personal'],
      ['b0', 'similar'],
    ]);
    expect(product.body.items[0]!.because).toEqual(['a0']);
    const cart = await get('userId=shopper&limit=3&context=cart&itemId=a0');
    expect(sources(cart.body)).toEqual([
      ['h1', 'personal'],
      ['b3', 'bought_together'],
      ['b4', 'bought_together'],
    ]);
    const missing = await app.inject({
      method: 'GET',
      url: '/v1/recommendations?userId=shopper&context=cart',
    });
    expect(missing.statusCode).toBe(400);
  });

  it("names the page's item once in because right after its view, and never offers the page's or the cart's item back", async () => {
    // The storefront's flow: the product page view is ingested, then the page asks for its shelf.
    await live('pdp', 'view', 'a0');
    const product = await get('userId=pdp&limit=3&context=product&itemId=a0');
    expect(product.body.items.map((i) => [i.itemId, i.because])).toEqual([
      ['a1', ['a0']],
      ['a2', ['a0']],
      ['b0', ['a0']],
    ]);
    // Grocery is repurchasable: bought g0 comes back on the home page, but not on its own page nor in the cart.
    await live('groceries', 'purchase', 'g0');
    expect(ids((await get('userId=groceries&limit=100')).body)).toContain('g0');
    for (const query of ['context=product&itemId=g0', 'context=cart&itemId=g0'])
      for (const offerSeen of ['false', 'true']) {
        const { body } = await get(`userId=groceries&limit=100&${query}&offerSeen=${offerSeen}`);
        expect(ids(body), `${query}&offerSeen=${offerSeen}`).not.toContain('g0');
        expect(ids(body)).toHaveLength(23);
      }
    // A product page that leaves out context=product would get a home answer, g0 itself among it: refused.
    for (const query of ['itemId=g0', 'context=home&itemId=g0']) {
      const response = await app.inject({
        method: 'GET',
        url: `/v1/recommendations?userId=groceries&limit=100&${query}`,
      });
      expect(response.statusCode, query).toBe(400);
      expect(response.json()).toMatchObject({
        error: 'bad_request',
        message: expect.stringMatching(/^itemId: /),
      });
    }
  });

  it('pages with nextCursor through every eligible item exactly once', async () => {
    await live('pager', 'view', 'a0');
    const all = ids((await get('userId=pager&limit=100')).body);
    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const page: RecommendationsReply = (
        await get(`userId=pager&limit=5${cursor ? `&cursor=${cursor}` : ''}`)
      ).body;
      paged.push(...ids(page));
      cursor = page.nextCursor;
    } while (cursor);
    expect(paged).toEqual(all);
    expect(new Set(paged).size).toBe(paged.length);
    const bad = await app.inject({ method: 'GET', url: '/v1/recommendations?userId=pager&cursor=nonsense' });
    expect(bad.statusCode).toBe(400);
  });

  it('answers a user who withdrew personalization consent without their history', async () => {
    await live('private', 'view', 'a0');
    // Through the profile write ingest uses: it also renews the user's stamp, which cached answers depend on.
    const profile = { push: true, timezone: null };
    await writeUserProfile(infra.redis, infra.keys, 'private', {
      ...profile,
      personalization: false,
      revision: 1,
    });
    const { body } = await get('userId=private&limit=5');
    expect(body.personalized).toBe(false);
    expect(body.items).toHaveLength(5);
    expect(body.items.every((i) => i.source !== 'personal' && i.because === undefined)).toBe(true);
    await writeUserProfile(infra.redis, infra.keys, 'private', {
      ...profile,
      personalization: true,
      revision: 2,
    });
    expect((await get('userId=private&limit=5')).body.personalized).toBe(true);
  });

  it('tags answers with the experiment arm the user is in: sticky across requests and processes, named in the id, never for a user without consent', async () => {
    const arms = [
      { name: 'control', share: 0.5 },
      { name: 'b', share: 0.5, settings: { historyHalfLifeHours: 72, maxPerCategory: 2 } },
    ];
    const put = await app.inject({
      method: 'PUT',
      url: '/v1/experiments/served',
      payload: { arms, placement: 'home' },
    });
    expect(put.statusCode, put.body).toBe(200);
    const other = await buildApiApp({ config: testApiConfig(infra.env) });
    try {
      await Promise.all([app.experiments.refresh(), other.experiments.refresh()]);
      const inArm = new Map<string, number>();
      for (let i = 0; i < 60; i++) {
        const userId = `exp-${i}`;
        await live(userId, 'view', 'a0');
        const { body } = await get(`userId=${userId}&limit=5`);
        expect(body.experiment).toBe('served');
        expect(['control', 'b']).toContain(body.arm);
        expect(decodeAnswerId(body.recommendationId)).toMatchObject({ experiment: 'served', arm: body.arm });
        const again = await other.inject({
          method: 'GET',
          url: `/v1/recommendations?userId=${userId}&limit=5`,
        });
        expect(again.json()).toMatchObject({ experiment: 'served', arm: body.arm });
        // Each arm's settings are served: arm b keeps at most 2 items of one category, control 3 (the tests' cap).
        const perCategory = new Map<string, number>();
        for (const id of ids(body)) perCategory.set(id[0]!, (perCategory.get(id[0]!) ?? 0) + 1);
        expect(Math.max(...perCategory.values())).toBe(body.arm === 'b' ? 2 : 3);
        inArm.set(body.arm!, (inArm.get(body.arm!) ?? 0) + 1);
      }
      expect(inArm.get('control')).toBeGreaterThan(10);
      expect(inArm.get('b')).toBeGreaterThan(10);

      // Another placement is outside the experiment; so is a user without consent (both arms personalize).
      const product = (await get('userId=exp-0&context=product&itemId=a0&limit=5')).body;
      expect(product.experiment).toBeUndefined();
      const profile = { push: true, timezone: null };
      await writeUserProfile(infra.redis, infra.keys, 'exp-0', {
        ...profile,
        personalization: false,
        revision: 1,
      });
      const withdrawn = (await get('userId=exp-0&limit=5')).body;
      expect(withdrawn.experiment).toBeUndefined();
      expect(decodeAnswerId(withdrawn.recommendationId)).toMatchObject({ experiment: null, arm: null });
    } finally {
      await app.inject({ method: 'DELETE', url: '/v1/experiments/served' });
      await app.experiments.refresh();
      await other.close();
    }
  });

  it("applies an experiment set on a storefront's own placement to the requests naming it, and only to them", async () => {
    const put = await app.inject({
      method: 'PUT',
      url: '/v1/experiments/pdp-bottom-test',
      payload: {
        arms: [
          { name: 'control', share: 0.5 },
          { name: 'b', share: 0.5, settings: { maxPerCategory: 2 } },
        ],
        placement: 'pdp-bottom',
      },
    });
    expect(put.statusCode, put.body).toBe(200);
    await app.experiments.refresh();
    try {
      await live('slotted', 'view', 'a0');
      // Asked first without the placement, three times (the reply cache stores the second and answers the third):
      // outside the experiment.
      for (let round = 0; round < 3; round++) {
        const plain = (await get('userId=slotted&limit=5')).body;
        expect(plain.experiment).toBeUndefined();
        expect(decodeAnswerId(plain.recommendationId)).toMatchObject({ placement: 'home', experiment: null });
      }
      // Not the stored answer of the same query without the placement.
      for (let round = 0; round < 2; round++) {
        const slotted = (await get('userId=slotted&limit=5&placement=pdp-bottom')).body;
        expect(slotted.experiment).toBe('pdp-bottom-test');
        expect(['control', 'b']).toContain(slotted.arm);
        expect(decodeAnswerId(slotted.recommendationId)).toMatchObject({
          placement: 'pdp-bottom',
          experiment: 'pdp-bottom-test',
          arm: slotted.arm,
        });
      }
      const product = (await get('userId=slotted&limit=5&context=product&itemId=a0&placement=pdp-bottom'))
        .body;
      expect(product.experiment).toBe('pdp-bottom-test');
      expect((await get('userId=slotted&limit=5&placement=bad%20name')).status).toBe(400);
    } finally {
      await app.inject({ method: 'DELETE', url: '/v1/experiments/pdp-bottom-test' });
      await app.experiments.refresh();
    }
  });

  it('offers seen items the user has not bought where the placement asks for them (offerSeen)', async () => {
    await live('returning', 'view', 'a1', 4 * HOUR_MS);
    await live('returning', 'purchase', 'a2', 3 * HOUR_MS);
    await live('returning', 'view', 'a0', 2 * HOUR_MS);
    expect(ids((await get('userId=returning&limit=3')).body)).toEqual(['b0', 'a3', 'a5']);
    expect(ids((await get('userId=returning&limit=3&offerSeen=false')).body)).toEqual(['b0', 'a3', 'a5']);
    // a0 and a1 come back, each scored by its own weight plus its neighbour's; bought a2 stays out.
    const { body } = await get('userId=returning&limit=3&offerSeen=true');
    expect(sources(body)).toEqual([
      ['a0', 'personal'],
      ['a1', 'personal'],
      ['b0', 'personal'],
    ]);
    expect(body.items[0]!.because).toEqual(['a0', 'a1']);
    const bad = await app.inject({
      method: 'GET',
      url: '/v1/recommendations?userId=returning&offerSeen=yes',
    });
    expect(bad.statusCode).toBe(400);
  });

  it('gives the push service the same answer through recommendFor, honouring exclude', async () => {
    await live('push', 'view', 'a0');
    const viaRoute = (await get('userId=push&limit=2')).body;
    const viaHelper = await recommendFor(app, { userId: 'push', limit: 2 });
    expect(sources(viaHelper)).toEqual(sources(viaRoute));
    const best = await recommendFor(app, { userId: 'push', limit: 1, exclude: ['a1'] });
    expect(ids(best)).toEqual(['a2']);
  });

  it('answers degraded from the in-process model when Redis fails (last: it cuts the connection)', async () => {
    expect(logs.entries(), 'warnings before the cut').toEqual([]);
    redisProxy.cut();
    const { status, body } = await get('userId=fresh&limit=4');
    expect(status).toBe(200);
    expect(body).toMatchObject({ modelVersion: 'v-fixture', personalized: false, degraded: true });
    expect(sources(body)).toEqual([
      ['b1', 'trending'],
      ['h5', 'popular'],
      ['h4', 'popular'],
      ['h3', 'popular'],
    ]);
    // The model's lists are in process: an item's neighbours need no Redis.
    const similar = await app.inject({ method: 'GET', url: '/v1/items/a0/similar' });
    expect(similar.statusCode).toBe(200);
    expect(similar.json().items.map((item: { itemId: string }) => item.itemId)).toEqual(['a1', 'a2', 'b0']);
  });
});
