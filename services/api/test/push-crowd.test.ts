import { type PushDecisionReply, PushDecisionRequest } from '@elevens/domain';
import { type PushRule, ruleMatches } from '@elevens/push-rules';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';
import { createPushDecider, type PushDecider } from '../src/routes/push/decisions';

let infra: TestInfra;
let app: ApiApp;

beforeAll(async () => {
  infra = await createTestInfra('api-push-crowd');
  const config = loadApiConfig({ ...infra.env, LOG_LEVEL: 'error' });
  app = await buildApiApp({ config });
  decider = createPushDecider(app, {
    defaultTimezone: config.PUSH_DEFAULT_TIMEZONE,
    duplicateCampaignMs: config.PUSH_DUPLICATE_CAMPAIGN_PERIOD,
    itemExclusionMs: config.PUSH_ITEM_EXCLUSION,
    timezoneCacheEntries: config.PUSH_TIMEZONE_CACHE_ENTRIES,
    now: Date.now,
  });
});

afterAll(async () => {
  await app?.close();
  await infra.close();
});

const putRule = async (ruleId: string, body: Record<string, unknown>) => {
  const response = await app.inject({ method: 'PUT', url: `/v1/push/rules/${ruleId}`, payload: body });
  expect(response.statusCode).toBe(200);
};

let decider: PushDecider;
/** The route's decision logic without the HTTP layer: 20,000 in-process requests would take most of a minute. */
const decide = (body: Record<string, unknown>): Promise<PushDecisionReply> =>
  decider(PushDecisionRequest.parse(body), { admin: false, log: app.log });

/** A small seeded generator, so a failing mix of messages can be replayed. */
function mulberry32(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe('concurrent decisions', () => {
  it('lets no user exceed any rule across 1,000 users × 20 concurrent decisions, refusing only at a full rule', async () => {
    const rules: PushRule[] = [
      { ruleId: 'push-3h', channel: 'push', limit: 3, windowMs: 3_600_000, category: null },
      { ruleId: 'any-5d', channel: 'any', limit: 5, windowMs: 86_400_000, category: null },
      { ruleId: 'sale-2w', channel: 'any', limit: 2, windowMs: 7 * 86_400_000, category: 'sale' },
    ].map((r) => ({ ...r, activeFromMs: null, activeUntilMs: null, enabled: true }) as PushRule);
    await putRule('push-3h', { channel: 'push', limit: 3, window: '1h' });
    await putRule('any-5d', { channel: 'any', limit: 5, window: '24h' });
    await putRule('sale-2w', { channel: 'any', limit: 2, window: '7d', category: 'sale' });
    const random = mulberry32(1111);
    const channels = ['push', 'email', 'sms'] as const;
    const users = Array.from({ length: 1000 }, (_, u) =>
      Array.from({ length: 20 }, (_, i) => ({
        userId: `crowd-${u}`,
        channel: channels[Math.floor(random() * channels.length)]!,
        campaignId: `c${i}`,
        ...(random() < 0.4 ? { category: 'sale' } : {}),
      })),
    );
    // 250 users (5,000 decisions) in flight at a time; each user's 20 are concurrent.
    for (let start = 0; start < users.length; start += 250) {
      const batch = users.slice(start, start + 250);
      const replies = await Promise.all(batch.map((messages) => Promise.all(messages.map(decide))));
      batch.forEach((messages, u) => {
        const sent = messages.filter((_, i) => replies[u]![i]!.allowed);
        const asSends = sent.map((m) => ({ channel: m.channel, category: m.category ?? null }));
        for (const rule of rules) {
          expect(asSends.filter((s) => ruleMatches(rule, s)).length).toBeLessThanOrEqual(rule.limit);
        }
        messages.forEach((m, i) => {
          const reply = replies[u]![i]!;
          if (reply.allowed) return;
          expect(reply.reason).toBe('cap_exceeded');
          const rule = rules.find((r) => r.ruleId === reply.ruleId)!;
          // a refusal is only right when the rule it names ended up full for this message
          expect(ruleMatches(rule, { channel: m.channel, category: m.category ?? null })).toBe(true);
          expect(asSends.filter((s) => ruleMatches(rule, s)).length).toBe(rule.limit);
        });
      });
    }
  });
});
