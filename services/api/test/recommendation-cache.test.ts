import { decodeAnswerId, RECOMMENDATIONS_REPLY_FORMAT, type RecommendationsReply } from '@elevens/domain';
import {
  createKeys,
  decodeReplyEntry,
  eraseUserLiveState,
  forgetUserHistory,
  recordLiveEvents,
  replaceUserLiveState,
  writeUserProfile,
} from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { settingsTagOf } from '../src/recommendation-cache';
import { publishFixtureModel, testApiConfig } from './recommendations-fixtures';

let infra: TestInfra;
/** cache on, the shipped TTL */
let app: ApiApp;

beforeAll(async () => {
  infra = await createTestInfra('api-reply-cache');
  await publishFixtureModel(infra.redis, infra.keys);
  app = await buildApiApp({ config: testApiConfig(infra.env) });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const iso = (ms: number) => new Date(ms).toISOString();

const get = async (query: string, target: ApiApp = app) => {
  const response = await target.inject({ method: 'GET', url: `/v1/recommendations?${query}` });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
  return { text: response.body, body: response.json() as RecommendationsReply };
};
const ids = (reply: RecommendationsReply) => reply.items.map((i) => i.itemId);
/** Everything but the recommendationId, as text: a hit must give the very same answer. */
const withoutId = (text: string) =>
  text.replace(/^\{"recommendationId":"r1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",/, '{');
const cacheCount = async (result: 'hit' | 'miss' | 'off', target: ApiApp = app) =>
  (await target.metrics.recommendationCache.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
/** Events a few hours old: in the history, not in the live trending hours. */
const view = (userId: string, itemId: string) =>
  recordLiveEvents(infra.redis, infra.keys, [
    { userId, itemId, type: 'view', timestampMs: Date.now() - 3 * HOUR_MS },
  ]);

/**
 * Asks three times (an answer is stored at the second computation under the user's stamp, or at once by a reader
 * that claimed the stamp) and checks the third answer was a hit; returns the first.
 */
async function cached(query: string, target: ApiApp = app) {
  const first = await get(query, target);
  await get(query, target);
  const hits = await cacheCount('hit', target);
  const second = await get(query, target);
  expect(await cacheCount('hit', target)).toBe(hits + 1);
  expect(withoutId(second.text)).toBe(withoutId(first.text));
  return first;
}

describe('the recommendation reply cache', () => {
  it('answers a repeated request from the cache: the same answer with a new recommendationId', async () => {
    await view('again', 'a0');
    const misses = await cacheCount('miss');
    const first = await get('userId=again&limit=3');
    expect(await cacheCount('miss')).toBe(misses + 1);
    // The first computation under the stamp leaves only a mark; the second stores the answer.
    const entryKey = infra.keys.userReply('again', '*');
    expect(await infra.redis.keys(entryKey)).toHaveLength(1);
    const mark = await infra.redis.get((await infra.redis.keys(entryKey))[0]!);
    expect(mark).toBe(`${await infra.redis.get(infra.keys.userStamp('again'))}\t`);
    await get('userId=again&limit=3');
    expect(await cacheCount('miss')).toBe(misses + 2);
    // The answer is written after it is sent, through the app's own connection: this one may come first.
    await vi.waitFor(async () =>
      expect((await infra.redis.get((await infra.redis.keys(entryKey))[0]!))!.length).toBeGreaterThan(
        mark!.length,
      ),
    );
    const hits = await cacheCount('hit');
    const second = await get('userId=again&limit=3');
    expect(await cacheCount('hit')).toBe(hits + 1);
    expect(decodeAnswerId(second.body.recommendationId)).toMatchObject({
      kind: 'recommendation',
      modelVersion: 'v-fixture',
      placement: 'home',
    });
    expect(second.body.recommendationId).not.toBe(first.body.recommendationId);
    expect(withoutId(second.text)).toBe(withoutId(first.text));
    expect(second.body).toMatchObject({ userId: 'again', personalized: true, degraded: false });
    expect(ids(second.body)).toEqual(['a1', 'a2', 'b0']);
    // Another query of the same user is its own entry.
    expect(ids((await get('userId=again&limit=2')).body)).toEqual(['a1', 'a2']);
  });

  it("keys its entries by the answer's wire form, so none cached in another form is served", async () => {
    const settings = app.recommendationSettings;
    const tag = settingsTagOf(settings, RECOMMENDATIONS_REPLY_FORMAT);
    expect(settingsTagOf(settings, RECOMMENDATIONS_REPLY_FORMAT + 1)).not.toBe(tag);
    // The same settings in another order are the same settings.
    expect(settingsTagOf({ ...settings, repurchasableCategories: new Set(['c1', 'c2']) }, 1)).toBe(
      settingsTagOf({ ...settings, repurchasableCategories: new Set(['c2', 'c1']) }, 1),
    );
    await view('format', 'a0');
    await cached('userId=format&limit=3');
    const [entryKey] = await infra.redis.keys(infra.keys.userReply('format', '*'));
    const stamp = (await infra.redis.get(infra.keys.userStamp('format')))!;
    const entry = decodeReplyEntry((await infra.redis.get(entryKey!))!, stamp);
    expect(JSON.parse(entry!.query)[0]).toBe(tag);
  });

  it('pages through a cached first page with its cursor, as computed', async () => {
    await view('pages', 'a0');
    const first = (await cached('userId=pages&limit=5')).body;
    const second = (await cached(`userId=pages&limit=5&cursor=${first.nextCursor}`)).body;
    const all = ids((await get('userId=pages&limit=10')).body);
    expect([...ids(first), ...ids(second)]).toEqual(all);
  });

  it('caches the answers with and without offerSeen apart', async () => {
    await view('placements', 'a0');
    const hidden = (await cached('userId=placements&limit=3')).body;
    const misses = await cacheCount('miss');
    const offered = (await cached('userId=placements&limit=3&offerSeen=true')).body;
    // Its own entry: computed twice (a mark, then the entry) before its hit.
    expect(await cacheCount('miss')).toBe(misses + 2);
    expect(ids(hidden)).not.toContain('a0');
    expect(ids(offered)[0]).toBe('a0');
    expect(ids((await cached('userId=placements&limit=3')).body)).toEqual(ids(hidden));
  });

  it('changes the next answer after an ingested event (recordLiveEvents renews the stamp)', async () => {
    await view('fresh', 'h0');
    expect(ids((await cached('userId=fresh&limit=3')).body)).toContain('h1');
    const before = await infra.redis.get(infra.keys.userStamp('fresh'));
    await view('fresh', 'g0');
    expect(await infra.redis.get(infra.keys.userStamp('fresh'))).not.toBe(before);
    const misses = await cacheCount('miss');
    const after = (await get('userId=fresh&limit=3')).body;
    expect(await cacheCount('miss')).toBe(misses + 1);
    expect(ids(after)).toContain('g1');
  });

  it('answers without the history after a consent withdrawal, and with it after consent again', async () => {
    await view('consent', 'a0');
    expect((await cached('userId=consent&limit=3')).body.personalized).toBe(true);
    const profile = { push: true, timezone: null };
    await writeUserProfile(infra.redis, infra.keys, 'consent', {
      ...profile,
      personalization: false,
      revision: 1,
    });
    const withdrawn = (await get('userId=consent&limit=3')).body;
    expect(withdrawn.personalized).toBe(false);
    expect(withdrawn.items.every((i) => i.source !== 'personal')).toBe(true);
    await writeUserProfile(infra.redis, infra.keys, 'consent', {
      ...profile,
      personalization: true,
      revision: 2,
    });
    expect((await get('userId=consent&limit=3')).body.personalized).toBe(true);
    // Ingest forgets the history when consent is withdrawn: that write renews the stamp too.
    await cached('userId=consent&limit=3');
    await forgetUserHistory(infra.redis, infra.keys, 'consent');
    expect((await get('userId=consent&limit=3')).body.personalized).toBe(false);
  });

  it('follows a rebuild of the live state from Postgres', async () => {
    await view('rebuilt', 'a0');
    expect(ids((await cached('userId=rebuilt&limit=1')).body)).toEqual(['a1']);
    await replaceUserLiveState(infra.redis, infra.keys, [
      {
        userId: 'rebuilt',
        history: [{ type: 'view', itemId: 'h0', timestampMs: Date.now() }],
        purchased: [],
      },
    ]);
    expect(ids((await get('userId=rebuilt&limit=1')).body)).toEqual(['h1']);
  });

  it('serves nothing cached after an erasure, even for a user whose state predates stamps', async () => {
    await view('erased', 'a0');
    expect((await cached('userId=erased&limit=3')).body.personalized).toBe(true);
    await get('userId=erased&limit=2');
    await eraseUserLiveState(infra.redis, infra.keys, 'erased');
    // Its entry and the other query's first-miss mark are gone with it, not left to expire.
    expect(await infra.redis.keys(infra.keys.userReply('erased', '*'))).toEqual([]);
    expect((await get('userId=erased&limit=3')).body.personalized).toBe(false);

    // Live state written before stamps existed: the reader claims a stamp before computing.
    await infra.redis.lpush(infra.keys.userHistory('legacy'), JSON.stringify(['view', 'a0', Date.now()]));
    expect((await cached('userId=legacy&limit=3')).body.personalized).toBe(true);
    expect(await infra.redis.pttl(infra.keys.userStamp('legacy'))).toBeGreaterThan(0);
    await eraseUserLiveState(infra.redis, infra.keys, 'legacy');
    expect((await get('userId=legacy&limit=3')).body.personalized).toBe(false);
  });

  it('recomputes after a boost rule change', async () => {
    const before = ids((await cached('userId=ruled&limit=6')).body);
    const put = await app.inject({
      method: 'PUT',
      url: '/v1/rules/boosts',
      payload: { pins: [{ itemId: 'a4', position: 1 }] },
    });
    expect(put.statusCode).toBe(200);
    await app.boostRules.refresh();
    const after = ids((await get('userId=ruled&limit=6')).body);
    expect(after[0]).toBe('a4');
    expect(after).not.toEqual(before);
    await app.inject({ method: 'PUT', url: '/v1/rules/boosts', payload: {} });
    await app.boostRules.refresh();
  });

  it('serves no entry past the start of a boost window that was ahead when it was computed', async () => {
    // The app's clock, not the wall clock, decides when the window opens: no margin for a slow run to miss.
    let clockMs = Date.UTC(2026, 10, 10, 23, 59, 0);
    const clocked = await buildApiApp({ config: testApiConfig(infra.env), now: () => clockMs });
    try {
      const startsAtMs = clockMs + 60_000;
      await clocked.inject({
        method: 'PUT',
        url: '/v1/rules/boosts',
        payload: {
          pins: [{ itemId: 'a4', position: 1, from: iso(startsAtMs), until: iso(startsAtMs + DAY_MS) }],
        },
      });
      await clocked.boostRules.refresh();
      expect(ids((await cached('userId=window&limit=3', clocked)).body)).not.toContain('a4');
      const entry = (await infra.redis.keys(`${infra.keys.userReply('window', '*')}`))[0]!;
      expect(await infra.redis.pttl(entry)).toBeLessThanOrEqual(60_000);
      // One millisecond into the window: the entry is not served, the pin is.
      clockMs = startsAtMs + 1;
      const misses = await cacheCount('miss', clocked);
      expect(ids((await get('userId=window&limit=3', clocked)).body)[0]).toBe('a4');
      expect(await cacheCount('miss', clocked)).toBe(misses + 1);
    } finally {
      await clocked.inject({ method: 'PUT', url: '/v1/rules/boosts', payload: {} });
      await clocked.close();
      await app.boostRules.refresh();
    }
  });

  it('serves no entry past the start or the end of an experiment window', async () => {
    let clockMs = Date.UTC(2026, 10, 10, 23, 59, 0);
    const clocked = await buildApiApp({ config: testApiConfig(infra.env), now: () => clockMs });
    const startsAtMs = clockMs + 60_000;
    const endsAtMs = startsAtMs + 30_000;
    try {
      const put = await clocked.inject({
        method: 'PUT',
        url: '/v1/experiments/midnight',
        payload: {
          arms: [
            { name: 'popular', share: 0.5, algorithm: 'popular' },
            { name: 'trending', share: 0.5, algorithm: 'trending' },
          ],
          placement: 'home',
          from: iso(startsAtMs),
          until: iso(endsAtMs),
        },
      });
      expect(put.statusCode, put.body).toBe(200);
      await view('launch', 'a0');
      expect((await cached('userId=launch&limit=3', clocked)).body.experiment).toBeUndefined();
      // One millisecond into the experiment: the user is in it, whatever was cached before.
      clockMs = startsAtMs + 1;
      const started = (await get('userId=launch&limit=3', clocked)).body;
      expect(started.experiment).toBe('midnight');
      expect((await cached('userId=launch&limit=3', clocked)).body.experiment).toBe('midnight');
      // At its end (exclusive) the answers leave it, and their ids no longer name it.
      clockMs = endsAtMs;
      const ended = (await get('userId=launch&limit=3', clocked)).body;
      expect(ended.experiment).toBeUndefined();
      expect(decodeAnswerId(ended.recommendationId)).toMatchObject({ experiment: null, arm: null });
    } finally {
      await clocked.inject({ method: 'DELETE', url: '/v1/experiments/midnight' });
      await clocked.close();
      await app.experiments.refresh();
    }
  });

  it('recomputes after a catalog block', async () => {
    await view('blocked', 'a0');
    expect(ids((await cached('userId=blocked&limit=3')).body)).toContain('a1');
    await infra.redis.sadd(infra.keys.catalogUnservable(), 'a1');
    await infra.redis.incr(infra.keys.catalogVersion());
    await app.catalog.refresh();
    expect(ids((await get('userId=blocked&limit=3')).body)).not.toContain('a1');
    await infra.redis.srem(infra.keys.catalogUnservable(), 'a1');
    await infra.redis.incr(infra.keys.catalogVersion());
    await app.catalog.refresh();
  });

  it('recomputes after a model switch, and stores the new answer at once', async () => {
    expect((await cached('userId=switch&limit=3')).body.modelVersion).toBe('v-fixture');
    await publishFixtureModel(infra.redis, infra.keys, 'v-second');
    await app.model.refresh();
    const misses = await cacheCount('miss');
    expect((await get('userId=switch&limit=3')).body.modelVersion).toBe('v-second');
    expect(await cacheCount('miss')).toBe(misses + 1);
    // The user's answer was stored under this stamp before: the recomputed one replaces it, no mark first.
    const hits = await cacheCount('hit');
    expect((await get('userId=switch&limit=3')).body.modelVersion).toBe('v-second');
    expect(await cacheCount('hit')).toBe(hits + 1);
  });

  it('lets an entry live RECOMMENDATION_CACHE_TTL at most', async () => {
    const short = await buildApiApp({
      config: testApiConfig({ ...infra.env, RECOMMENDATION_CACHE_TTL: '1s' }),
    });
    try {
      await view('brief', 'a0');
      await cached('userId=brief&limit=3', short);
      const entry = (await infra.redis.keys(`${infra.keys.userReply('brief', '*')}`))[0]!;
      expect(await infra.redis.pttl(entry)).toBeLessThanOrEqual(1_000);
      await vi.waitFor(async () => expect(await infra.redis.exists(entry)).toBe(0), {
        timeout: 5_000,
        interval: 20,
      });
      const misses = await cacheCount('miss', short);
      await get('userId=brief&limit=3', short);
      expect(await cacheCount('miss', short)).toBe(misses + 1);
    } finally {
      await short.close();
    }
  });

  it('stores every computed answer with RECOMMENDATION_CACHE_MIN_USES=1', async () => {
    const eager = await buildApiApp({
      config: testApiConfig({ ...infra.env, RECOMMENDATION_CACHE_MIN_USES: '1' }),
    });
    try {
      await view('eager', 'a0');
      const first = await get('userId=eager&limit=3', eager);
      expect(await cacheCount('miss', eager)).toBe(1);
      const second = await get('userId=eager&limit=3', eager);
      expect(await cacheCount('hit', eager)).toBe(1);
      expect(withoutId(second.text)).toBe(withoutId(first.text));
    } finally {
      await eager.close();
    }
  });

  it('writes only marks for a shopper who sends an event before every read', async () => {
    for (const item of ['a0', 'b0', 'a1', 'b1']) {
      await view('browsing', item);
      await get('userId=browsing&limit=3');
      const stamp = await infra.redis.get(infra.keys.userStamp('browsing'));
      const keys = await infra.redis.keys(infra.keys.userReply('browsing', '*'));
      expect(keys).toHaveLength(1);
      expect(await infra.redis.get(keys[0]!)).toBe(`${stamp}\t`);
    }
  });

  it('computes every answer and stores none with RECOMMENDATION_CACHE_TTL=0', async () => {
    const off = await buildApiApp({ config: testApiConfig({ ...infra.env, RECOMMENDATION_CACHE_TTL: '0' }) });
    try {
      await view('uncached', 'a0');
      const first = (await get('userId=uncached&limit=3', off)).body;
      const second = (await get('userId=uncached&limit=3', off)).body;
      expect(ids(second)).toEqual(ids(first));
      expect(await cacheCount('off', off)).toBe(2);
      expect(await cacheCount('hit', off)).toBe(0);
      expect(await infra.redis.keys(infra.keys.userReply('uncached', '*'))).toEqual([]);
    } finally {
      await off.close();
    }
  });

  it('never stores a degraded answer', async () => {
    // A key prefix of its own under the file's, holding no model (the file's close deletes its keys too).
    const empty = createKeys(`${infra.keyPrefix}modelless:`);
    const modelless = await buildApiApp({
      config: testApiConfig({ ...infra.env, REDIS_KEY_PREFIX: empty.prefix }),
    });
    try {
      expect((await get('userId=early&limit=3', modelless)).body.degraded).toBe(true);
      expect((await get('userId=early&limit=3', modelless)).body.degraded).toBe(true);
      expect(await cacheCount('hit', modelless)).toBe(0);
      // At most the mark of a computation (the stamp and a tab), never an answer.
      for (const key of await infra.redis.keys(empty.userReply('early', '*')))
        expect(await infra.redis.get(key)).toBe(`${await infra.redis.get(empty.userStamp('early'))}\t`);
    } finally {
      await modelless.close();
    }
  });
});
