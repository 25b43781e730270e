import { addPushStats, pushStatsField, readPushStats } from '@elevens/cache';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('cache-push-stats');
});

afterAll(async () => {
  await infra.close();
});

describe('push decision counts', () => {
  it('adds every field of a flush larger than one script call holds, across hours, and adds again on the next', async () => {
    const hour = 500_000;
    const fields = new Map<string, number>();
    for (let campaign = 0; campaign < 2_500; campaign++)
      fields.set(pushStatsField('push', 'ok', `campaign-${campaign}`), (campaign % 7) + 1);
    const nextHour = new Map([[pushStatsField('sms', 'quiet_hours', 'campaign-0'), 4]]);
    const flush = new Map([
      [hour, fields],
      [hour + 1, nextHour],
    ]);
    await addPushStats(infra.redis, infra.keys, flush, 3_600);
    await addPushStats(infra.redis, infra.keys, flush, 3_600);

    const counts = await readPushStats(infra.redis, infra.keys, hour, hour + 2);
    expect(counts).toHaveLength(2_501);
    const byKey = new Map(counts.map((c) => [pushStatsField(c.channel, c.reason, c.campaignId), c.count]));
    for (const [field, count] of fields) expect(byKey.get(field)).toBe(2 * count);
    expect(byKey.get(pushStatsField('sms', 'quiet_hours', 'campaign-0'))).toBe(8);
    expect(await infra.redis.ttl(infra.keys.pushStatsHour(hour))).toBeGreaterThan(3_500);
  });
});
