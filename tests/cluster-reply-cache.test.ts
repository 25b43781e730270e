import { type ApiApp, buildApiApp } from '@elevens/api';
import type { RecommendationsReply } from '@elevens/domain';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { publishModel, serversOf } from '@elevens/redis-stores';
import { type ClusterTestInfra, createClusterTestInfra, redisClusterUnavailable } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureModel, testApiConfig } from '../services/api/test/recommendations-fixtures';

/**
 * The recommendation reply cache on a Redis Cluster: a repeated request is answered from the cache, and an event
 * ingested by the ingest service (on the same cluster) makes the next answer a fresh one, for every user of a
 * batch whose keys lie on different nodes.
 */
const clusterMissing = redisClusterUnavailable();

describe.skipIf(clusterMissing !== null)(
  `the reply cache on a Redis Cluster${clusterMissing ? ` (${clusterMissing})` : ''}`,
  () => {
    let infra: ClusterTestInfra;
    let api: ApiApp;
    let ingest: Awaited<ReturnType<typeof buildIngestApp>>;

    beforeAll(async () => {
      infra = await createClusterTestInfra('cluster-reply-cache');
      await publishModel(infra.redis, infra.keys, fixtureModel('v-fixture'));
      api = await buildApiApp({ config: testApiConfig(infra.env) });
      ingest = await buildIngestApp({ config: loadIngestConfig(infra.env) });
    });

    afterAll(async () => {
      await Promise.all([api?.close(), ingest?.close()]);
      await infra?.close();
    });

    const HOUR_MS = 3_600_000;
    /** Views a few hours old, through ingest: in the history, not in the live trending hours. */
    const view = async (views: { userId: string; itemId: string }[]) => {
      const timestamp = new Date(Date.now() - 3 * HOUR_MS).toISOString();
      const response = await ingest.inject({
        method: 'POST',
        url: '/v1/events',
        payload: { events: views.map((v) => ({ ...v, type: 'view', timestamp })) },
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ accepted: views.length, rejected: [] });
    };
    const get = async (userId: string) => {
      const response = await api.inject({
        method: 'GET',
        url: `/v1/recommendations?userId=${encodeURIComponent(userId)}&limit=3`,
      });
      expect(response.statusCode).toBe(200);
      return { text: response.body, body: response.json() as RecommendationsReply };
    };
    const ids = (reply: RecommendationsReply) => reply.items.map((i) => i.itemId);
    /** Everything but the recommendationId: a hit gives the very same answer. */
    const withoutId = (text: string) => text.replace(/^\{"recommendationId":"[^"]+",/, '{');
    const cacheCount = async (result: 'hit' | 'miss') =>
      (await api.metrics.recommendationCache.get()).values.find((v) => v.labels.result === result)?.value ??
      0;

    it('answers a repeated request from the cache, and the next one afresh after an ingested event', async () => {
      await view([{ userId: 'again', itemId: 'a0' }]);
      const first = await get('again');
      expect(ids(first.body)).toContain('a1');
      // Stored at its second computation under the stamp (RECOMMENDATION_CACHE_MIN_USES=2), served at the third.
      await get('again');
      const hits = await cacheCount('hit');
      const second = await get('again');
      expect(await cacheCount('hit')).toBe(hits + 1);
      expect(withoutId(second.text)).toBe(withoutId(first.text));

      const stamp = await infra.redis.get(infra.keys.userStamp('again'));
      await view([{ userId: 'again', itemId: 'g0' }]);
      expect(await infra.redis.get(infra.keys.userStamp('again'))).not.toBe(stamp);
      const misses = await cacheCount('miss');
      const after = await get('again');
      expect(await cacheCount('miss')).toBe(misses + 1);
      expect(ids(after.body)).toContain('g1');
    });

    it('renews every user of one batch whose keys lie on different nodes, odd ids included', async () => {
      const users = ['}odd', 'a{b}c', ...Array.from({ length: 30 }, (_, i) => `batch-${i}`)];
      await view(users.map((userId) => ({ userId, itemId: 'h0' })));
      // Every master holds some of the batch's users.
      for (const server of serversOf(infra.redis)) {
        let cursor = '0';
        let stamps = 0;
        do {
          const [next, found] = await server.scan(cursor, 'MATCH', `${infra.keyPrefix}user:*:stamp`);
          cursor = next;
          stamps += found.length;
        } while (cursor !== '0');
        expect(stamps).toBeGreaterThan(0);
      }
      for (const userId of users) {
        expect(ids((await get(userId)).body)).toContain('h1');
        await get(userId);
      }
      const hits = await cacheCount('hit');
      for (const userId of users) await get(userId);
      expect(await cacheCount('hit')).toBe(hits + users.length);

      await view(users.map((userId) => ({ userId, itemId: 'g0' })));
      const misses = await cacheCount('miss');
      for (const userId of users) expect(ids((await get(userId)).body)).toContain('g1');
      expect(await cacheCount('miss')).toBe(misses + users.length);
    });
  },
);
