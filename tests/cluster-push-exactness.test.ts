import { type ApiApp, buildApiApp, loadApiConfig } from '@elevens/api';
import type { PushDecisionReply } from '@elevens/domain';
import { type ClusterTestInfra, createClusterTestInfra, redisClusterUnavailable } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Push caps on a Redis Cluster, through the API: concurrent decisions for one user, sent to one api and to two,
 * allow exactly the limit, whatever the user id holds.
 */
const clusterMissing = redisClusterUnavailable();

describe.skipIf(clusterMissing !== null)(
  `push caps on a Redis Cluster${clusterMissing ? ` (${clusterMissing})` : ''}`,
  () => {
    let infra: ClusterTestInfra;
    let first: ApiApp;
    let second: ApiApp;

    // Thousands of in-process requests at once would trip load shedding; this file is about exactness.
    const config = () => loadApiConfig({ ...infra.env, LOG_LEVEL: 'error' });

    beforeAll(async () => {
      infra = await createClusterTestInfra('cluster-push-exact');
      first = await buildApiApp({ config: config() });
      const rule = await first.inject({
        method: 'PUT',
        url: '/v1/push/rules/five-an-hour',
        payload: { channel: 'push', limit: 5, window: '1h' },
      });
      expect(rule.statusCode).toBe(200);
      // Another api process on the same cluster: it reads the rule from there at start.
      second = await buildApiApp({ config: config() });
    });

    afterAll(async () => {
      await Promise.all([first?.close(), second?.close()]);
      await infra?.close();
    });

    const decide = async (app: ApiApp, userId: string, campaignId: string): Promise<PushDecisionReply> => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/push/decisions',
        payload: { userId, channel: 'push', campaignId },
      });
      expect(response.statusCode).toBe(200);
      return response.json();
    };

    const expectExactlyFive = async (userId: string, replies: PushDecisionReply[]) => {
      expect(replies.filter((r) => r.allowed)).toHaveLength(5);
      expect(new Set(replies.filter((r) => !r.allowed).map((r) => `${r.reason}:${r.ruleId}`))).toEqual(
        new Set(['cap_exceeded:five-an-hour']),
      );
      expect(await infra.redis.zcard(infra.keys.pushSends(userId))).toBe(5);
    };

    it('allows exactly 5 of 1,000 concurrent decisions for one user against 5 per hour', async () => {
      const replies = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => decide(first, 'one-user', `c${i}`)),
      );
      await expectExactlyFive('one-user', replies);
    });

    it('allows exactly 5 when the concurrent decisions go to two api processes', async () => {
      const replies = await Promise.all(
        Array.from({ length: 600 }, (_, i) => decide(i % 2 === 0 ? first : second, 'two-apis', `c${i}`)),
      );
      await expectExactlyFive('two-apis', replies);
    });

    it.each([
      ['starts with "}"', '}odd'],
      ['holds braces', 'a{b}c'],
    ])('holds the cap for a user id that %s (its keys share one slot)', async (_, userId) => {
      const replies = await Promise.all(
        Array.from({ length: 200 }, (_, i) => decide(i % 2 === 0 ? first : second, userId, `c${i}`)),
      );
      await expectExactlyFive(userId, replies);
      const slots = await Promise.all(
        [infra.keys.pushSends(userId), infra.keys.userProfile(userId), infra.keys.pushItems(userId)].map(
          async (key) => Number(await infra.redis.call('CLUSTER', 'KEYSLOT', key)),
        ),
      );
      expect(new Set(slots).size).toBe(1);
    });
  },
);
