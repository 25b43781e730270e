import { createApiKey } from '@elevens/db';
import {
  decodeAnswerId,
  type PushBudgetReply,
  type PushDecisionReply,
  type PushRuleView,
  type PushStatsReply,
} from '@elevens/domain';
import { packPushRules } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ApiApp, type ApiAppOptions, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';
import { recommendFor } from '../src/recommendations-service';
import { publishFixtureModel } from './recommendations-fixtures';

let infra: TestInfra;
let app: ApiApp;
let other: ApiApp;
let adminHeaders: Record<string, string>;
let deciderHeaders: Record<string, string>;
const HOUR = 3_600_000;
/** Every decision is made at this instant, so no outcome depends on the time of day the tests run at. */
const NOW = Date.parse('2026-11-11T12:00:00.000Z');

const build = (env: Record<string, string>, logging?: ApiAppOptions['logging']) =>
  buildApiApp({
    config: loadApiConfig({
      ...env,
      PUSH_CONFIG_POLL_MS: '100',
      MODEL_POLL_MS: '50',
      PUSH_DEFAULT_TIMEZONE: 'UTC',
    }),
    now: () => NOW,
    logging,
  });

beforeAll(async () => {
  infra = await createTestInfra('api-push');
  const adminKey = await createApiKey(infra.pool, { name: 'marketing-lead', scopes: ['admin'] });
  const deciderKey = await createApiKey(infra.pool, { name: 'sender', scopes: ['push:decide'] });
  adminHeaders = { authorization: `Bearer ${adminKey.secret}` };
  deciderHeaders = { authorization: `Bearer ${deciderKey.secret}` };
  app = await build(infra.env);
  other = await build(infra.env);
});

afterAll(async () => {
  await Promise.all([app?.close(), other?.close()]);
  await infra.close();
});

const putRule = (ruleId: string, body: Record<string, unknown>, headers = adminHeaders) =>
  app.inject({ method: 'PUT', url: `/v1/push/rules/${ruleId}`, headers, payload: body });
const putQuietHours = (body: Record<string, unknown>) =>
  app.inject({ method: 'PUT', url: '/v1/push/quiet-hours', headers: adminHeaders, payload: body });

async function decide(
  body: Record<string, unknown>,
  headers = deciderHeaders,
  on = app,
): Promise<PushDecisionReply> {
  const response = await on.inject({ method: 'POST', url: '/v1/push/decisions', headers, payload: body });
  expect(response.statusCode).toBe(200);
  return response.json();
}

const release = (decisionId: string) =>
  app.inject({
    method: 'DELETE',
    url: `/v1/push/decisions/${encodeURIComponent(decisionId)}`,
    headers: deciderHeaders,
  });

async function budget(userId: string, query = ''): Promise<PushBudgetReply> {
  const response = await app.inject({ method: 'GET', url: `/v1/push/users/${userId}/budget${query}` });
  expect(response.statusCode).toBe(200);
  return response.json();
}

/** Every test starts without rules or quiet hours, in both processes: none sees an earlier test's config. */
beforeEach(async () => {
  const { rules } = (await app.inject({ method: 'GET', url: '/v1/push/rules' })).json() as {
    rules: PushRuleView[];
  };
  for (const rule of rules) await app.inject({ method: 'DELETE', url: `/v1/push/rules/${rule.ruleId}` });
  await putQuietHours({ start: '22:00', end: '08:00', channels: ['any'], enabled: false });
  await vi.waitFor(async () => {
    await other.pushConfig.refresh();
    expect(other.pushConfig.current().version).toBe(app.pushConfig.current().version);
  });
});

describe('rules and quiet hours', () => {
  it('creates, replaces, lists and deletes rules, keeping every version with its author and time', async () => {
    const first = await putRule('daily', { channel: 'push', limit: 3, window: '24h' });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({
      ruleId: 'daily',
      limit: 3,
      enabled: true,
      version: 1,
      updatedBy: 'marketing-lead',
    });
    const replaced = await app.inject({
      method: 'PUT',
      url: '/v1/push/rules/daily',
      payload: { channel: 'any', limit: 5, window: '7d', category: 'sale' },
    });
    expect(replaced.json()).toMatchObject({
      version: 2,
      updatedBy: 'unknown',
      channel: 'any',
      category: 'sale',
    });
    const listed = (await app.inject({ method: 'GET', url: '/v1/push/rules' })).json();
    expect(listed.rules.map((r: PushRuleView) => [r.ruleId, r.limit, r.window])).toEqual([
      ['daily', 5, '7d'],
    ]);

    expect(
      (await app.inject({ method: 'DELETE', url: '/v1/push/rules/daily', headers: adminHeaders })).json(),
    ).toEqual({
      ruleId: 'daily',
      deleted: true,
    });
    expect((await app.inject({ method: 'DELETE', url: '/v1/push/rules/daily' })).statusCode).toBe(404);
    const history = (await app.inject({ method: 'GET', url: '/v1/push/rules/daily/versions' })).json();
    expect(
      history.versions.map((v: { version: number; author: string; definition: unknown }) => [
        v.version,
        v.author,
        v.definition === null,
      ]),
    ).toEqual([
      [3, 'marketing-lead', true],
      [2, 'unknown', false],
      [1, 'marketing-lead', false],
    ]);
    expect(history.versions[1].definition).toMatchObject({ limit: 5, window: '7d' });
    expect(Date.parse(history.versions[0].changedAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('answers 400 for bad windows, limits, clocks and festival windows', async () => {
    for (const body of [
      { channel: 'push', limit: 1, window: '2w' },
      { channel: 'push', limit: 1, window: '32d' },
      { channel: 'push', limit: -1, window: '1h' },
      { channel: 'fax', limit: 1, window: '1h' },
      {
        channel: 'push',
        limit: 1,
        window: '1h',
        activeFrom: '2026-11-12T00:00:00Z',
        activeUntil: '2026-11-11T00:00:00Z',
      },
    ]) {
      const response = await putRule('bad', body);
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toBe('bad_request');
    }
    expect((await putQuietHours({ start: '25:00', end: '08:00', channels: ['push'] })).statusCode).toBe(400);
    expect((await putQuietHours({ start: '22:00', end: '08:00', channels: [] })).statusCode).toBe(400);
  });

  it('keeps quiet-hours versions and serves the newest', async () => {
    const set = await putQuietHours({ start: '21:30', end: '07:00', channels: ['push', 'sms'] });
    expect(set.json()).toMatchObject({
      start: '21:30',
      end: '07:00',
      enabled: true,
      updatedBy: 'marketing-lead',
    });
    const listed = (await app.inject({ method: 'GET', url: '/v1/push/quiet-hours' })).json();
    expect(listed.current).toMatchObject({ start: '21:30', channels: ['push', 'sms'] });
    expect(listed.versions.length).toBeGreaterThanOrEqual(2);
    expect(app.pushConfig.current().quietHours).toEqual({
      startMinute: 1290,
      endMinute: 420,
      channels: ['push', 'sms'],
    });
  });

  it('applies a change made through another API process at its next poll', async () => {
    const userId = 'u-propagation';
    expect((await decide({ userId, channel: 'push', campaignId: 'c1' }, deciderHeaders, other)).allowed).toBe(
      true,
    );
    await putRule('hourly', { channel: 'push', limit: 1, window: '1h' });
    // Polled every 100 ms; the bound is generous so a loaded machine does not fail the test.
    await vi.waitFor(
      () => expect(other.pushConfig.current().version).toBe(app.pushConfig.current().version),
      { timeout: 10_000, interval: 20 },
    );
    const refused = await decide({ userId, channel: 'push', campaignId: 'c2' }, deciderHeaders, other);
    expect(refused).toMatchObject({ allowed: false, reason: 'cap_exceeded', ruleId: 'hourly' });
  });
});

describe('POST /v1/push/decisions', () => {
  it('reserves until one applicable rule is full, and names the binding one with the time a slot frees', async () => {
    await putRule('loose', { channel: 'any', limit: 10, window: '24h' });
    await putRule('tight', { channel: 'push', limit: 2, window: '1h' });
    const userId = 'u-caps';
    const first = await decide({ userId, channel: 'push', campaignId: 'c1' });
    expect(first).toMatchObject({ allowed: true, reason: 'ok' });
    // The id events after the push cite, naming its campaign for the reports.
    expect(decodeAnswerId(first.attributionId)).toMatchObject({ kind: 'push', campaign: 'c1' });
    // listed most restrictive first: 10 a day is fewer per hour than 2 an hour
    expect(first.remaining.map((r) => [r.ruleId, r.remaining])).toEqual([
      ['loose', 9],
      ['tight', 1],
    ]);
    expect((await decide({ userId, channel: 'push', campaignId: 'c2' })).allowed).toBe(true);
    const third = await decide({ userId, channel: 'push', campaignId: 'c3' });
    expect(third).toMatchObject({ allowed: false, reason: 'cap_exceeded', ruleId: 'tight' });
    for (const instant of [third.retryAt!, ...third.remaining.map((r) => r.resetsAt!)])
      expect(new Date(instant).toISOString()).toBe(instant);
    expect(Date.parse(third.retryAt!)).toBe(NOW + HOUR);
    expect(third.remaining.map((r) => r.remaining)).toEqual([8, 0]);
    // email is capped only by the loose rule, which counted the pushes too
    const email = await decide({ userId, channel: 'email', campaignId: 'c4' });
    expect(email.remaining).toEqual([{ ruleId: 'loose', remaining: 7, resetsAt: expect.any(String) }]);
  });

  it('caps a category only for messages of that category, and a festival rule only within its window', async () => {
    await putRule('sale-daily', { channel: 'push', limit: 1, window: '24h', category: 'sale' });
    await putRule('festival', {
      channel: 'any',
      limit: 0,
      window: '1h',
      category: 'news',
      activeFrom: new Date(NOW - HOUR).toISOString(),
      activeUntil: new Date(NOW + 2 * HOUR).toISOString(),
    });
    await putRule('over', {
      channel: 'any',
      limit: 0,
      window: '1h',
      activeFrom: new Date(NOW - 2 * HOUR).toISOString(),
      activeUntil: new Date(NOW - HOUR).toISOString(),
    });
    await putRule('off', { channel: 'any', limit: 0, window: '1h', enabled: false });
    const userId = 'u-category';
    expect((await decide({ userId, channel: 'push', campaignId: 's1', category: 'sale' })).allowed).toBe(
      true,
    );
    expect(await decide({ userId, channel: 'push', campaignId: 's2', category: 'sale' })).toMatchObject({
      reason: 'cap_exceeded',
      ruleId: 'sale-daily',
    });
    expect((await decide({ userId, channel: 'push', campaignId: 's3' })).allowed).toBe(true);
    const news = await decide({ userId, channel: 'sms', campaignId: 'n1', category: 'news' });
    expect(news).toMatchObject({ allowed: false, reason: 'cap_exceeded', ruleId: 'festival' });
    expect(Date.parse(news.retryAt!)).toBe(NOW + 2 * HOUR);
  });

  it('leaves the last slot to normal priority when the message is low priority', async () => {
    await putRule('pair', { channel: 'push', limit: 2, window: '1h' });
    const userId = 'u-priority';
    expect((await decide({ userId, channel: 'push', campaignId: 'a', priority: 'low' })).allowed).toBe(true);
    expect(await decide({ userId, channel: 'push', campaignId: 'b', priority: 'low' })).toMatchObject({
      allowed: false,
      reason: 'cap_exceeded',
    });
    expect((await decide({ userId, channel: 'push', campaignId: 'c', priority: 'high' })).allowed).toBe(true);
  });

  it('refuses the same campaign twice until its reservation is released', async () => {
    const userId = 'u-duplicate';
    const first = await decide({ userId, channel: 'push', campaignId: 'black-friday' });
    const again = await decide({ userId, channel: 'email', campaignId: 'black-friday' });
    expect(again).toMatchObject({ allowed: false, reason: 'duplicate_campaign' });
    expect(Date.parse(again.retryAt!)).toBeGreaterThan(NOW + 23 * HOUR);
    expect((await release(first.decisionId)).json()).toEqual({
      decisionId: first.decisionId,
      released: true,
    });
    expect((await release(first.decisionId)).json().released).toBe(false);
    expect((await decide({ userId, channel: 'push', campaignId: 'black-friday' })).allowed).toBe(true);
    expect((await release('not-a-decision')).statusCode).toBe(400);
  });

  it('gives the released slot back in every rule window', async () => {
    await putRule('one-push', { channel: 'push', limit: 1, window: '1h' });
    await putRule('two-any', { channel: 'any', limit: 2, window: '24h' });
    const userId = 'u-release';
    const sent = await decide({ userId, channel: 'push', campaignId: 'r1' });
    expect((await decide({ userId, channel: 'push', campaignId: 'r2' })).reason).toBe('cap_exceeded');
    await release(sent.decisionId);
    const retried = await decide({ userId, channel: 'push', campaignId: 'r2' });
    expect(retried.remaining.map((r) => [r.ruleId, r.remaining])).toEqual([
      ['two-any', 1],
      ['one-push', 0],
    ]);
    expect(await infra.redis.zcard(infra.keys.pushSends(userId))).toBe(1);
  });

  it('refuses users without push consent, transactional messages included', async () => {
    const userId = 'u-no-consent';
    await infra.redis.hset(infra.keys.userProfile(userId), { push: '0', personalization: '1', timezone: '' });
    expect((await decide({ userId, channel: 'push', campaignId: 'x' })).reason).toBe('no_consent');
    const transactional = await decide({
      userId,
      channel: 'sms',
      campaignId: 'order-1',
      transactional: true,
    });
    expect(transactional).toMatchObject({ allowed: false, reason: 'no_consent' });
  });

  it('lets transactional messages past full caps without using them up', async () => {
    await putRule('single', { channel: 'any', limit: 1, window: '24h' });
    const userId = 'u-transactional';
    expect((await decide({ userId, channel: 'push', campaignId: 'promo' })).allowed).toBe(true);
    const order = await decide({ userId, channel: 'push', campaignId: 'order-7', transactional: true });
    expect(order).toMatchObject({
      allowed: true,
      reason: 'ok',
      remaining: [{ ruleId: 'single', remaining: 0 }],
    });
    expect((await budget(userId)).rules[0]).toMatchObject({ ruleId: 'single', used: 1 });
  });

  it('overrides caps for an admin key only, never without one', async () => {
    await putRule('none-left', { channel: 'push', limit: 0, window: '1h' });
    const userId = 'u-override';
    const body = { userId, channel: 'push', campaignId: 'ceo-message', overrideCaps: true };
    const anonymous = await app.inject({ method: 'POST', url: '/v1/push/decisions', payload: body });
    expect(anonymous.statusCode).toBe(403);
    const decider = await app.inject({
      method: 'POST',
      url: '/v1/push/decisions',
      headers: deciderHeaders,
      payload: body,
    });
    expect(decider.statusCode).toBe(403);
    expect(await decide(body, adminHeaders)).toMatchObject({ allowed: true, reason: 'ok' });
  });

  it('holds messages in quiet hours of the user’s own time zone, following a time-zone change', async () => {
    // Quiet for two hours around noon, now, in UTC; in Tokyo (UTC+9, no DST) it is 21:00, outside them.
    await putQuietHours({ start: '11:00', end: '13:00', channels: ['push'] });
    const userId = 'u-quiet';
    await infra.redis.hset(infra.keys.userProfile(userId), { push: '1', timezone: 'UTC' });
    const held = await decide({ userId, channel: 'push', campaignId: 'q1' });
    expect(held).toMatchObject({
      allowed: false,
      reason: 'quiet_hours',
      retryAt: '2026-11-11T13:00:00.000Z',
    });
    expect((await decide({ userId, channel: 'email', campaignId: 'q2' })).allowed).toBe(true);
    expect((await decide({ userId, channel: 'push', campaignId: 'q3', transactional: true })).allowed).toBe(
      true,
    );
    expect((await budget(userId)).channels.find((c) => c.channel === 'push')!.quietUntil).toBe(held.retryAt);

    await infra.redis.hset(infra.keys.userProfile(userId), 'timezone', 'Asia/Tokyo');
    expect((await decide({ userId, channel: 'push', campaignId: 'q4' })).allowed).toBe(true);
    // users without a time zone get the configured default (UTC here)
    expect((await decide({ userId: 'u-quiet-default', channel: 'push', campaignId: 'q5' })).reason).toBe(
      'quiet_hours',
    );
  });

  it('evaluates a dry run without reserving or counting it', async () => {
    await putRule('solo', { channel: 'push', limit: 1, window: '1h' });
    const userId = 'u-dry';
    const dry = await decide({ userId, channel: 'push', campaignId: 'd1', dryRun: true });
    expect(dry).toMatchObject({
      allowed: true,
      remaining: [{ ruleId: 'solo', remaining: 1, resetsAt: null }],
    });
    expect((await decide({ userId, channel: 'push', campaignId: 'd1' })).allowed).toBe(true);
  });

  it('answers 400 for a malformed decision request', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/push/decisions',
      payload: { userId: 'u', channel: 'pigeon', campaignId: 'c' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toBe('bad_request');
  });
});

describe('content with frequency', () => {
  it('returns the best item not pushed to the user recently, and frees it again on release', async () => {
    await publishFixtureModel(infra.redis, infra.keys, 'v-push');
    await app.model.refresh();
    const userId = 'u-items';
    const ranked = (await recommendFor(app, { userId, limit: 3 })).items.map((item) => item.itemId);
    expect(ranked).toHaveLength(3);
    const first = await decide({ userId, channel: 'push', campaignId: 'i1', withItem: true });
    expect(first.item).toMatchObject({ itemId: ranked[0], score: expect.any(Number) });
    const second = await decide({ userId, channel: 'push', campaignId: 'i2', withItem: true });
    expect(second.item?.itemId).toBe(ranked[1]);
    const preview = await decide({ userId, channel: 'push', campaignId: 'i9', withItem: true, dryRun: true });
    expect(preview.item?.itemId).toBe(ranked[2]);
    await release(first.decisionId);
    const third = await decide({ userId, channel: 'push', campaignId: 'i3', withItem: true });
    expect(third.item?.itemId).toBe(ranked[0]);
    const refused = await decide({ userId, channel: 'push', campaignId: 'i3', withItem: true });
    expect(refused.item).toBeUndefined();
  });
});

describe('budget and stats', () => {
  it('reports what is left per rule and per channel', async () => {
    await putRule('push-hourly', { channel: 'push', limit: 3, window: '1h' });
    await putRule('sms-daily', { channel: 'sms', limit: 1, window: '24h' });
    await putRule('sale-any', { channel: 'any', limit: 5, window: '7d', category: 'sale' });
    const userId = 'u-budget';
    await decide({ userId, channel: 'push', campaignId: 'b1', category: 'sale' });
    await decide({ userId, channel: 'push', campaignId: 'b2' });
    const reply = await budget(userId, '?category=sale');
    expect(reply.timezone).toBe('UTC');
    expect(reply.rules.map((r) => [r.ruleId, r.used, r.remaining])).toEqual([
      ['sale-any', 1, 4],
      ['sms-daily', 0, 1],
      ['push-hourly', 2, 1],
    ]);
    expect(reply.channels).toEqual([
      { channel: 'push', remaining: 1, ruleId: 'push-hourly', quietUntil: null },
      { channel: 'email', remaining: 4, ruleId: 'sale-any', quietUntil: null },
      { channel: 'sms', remaining: 1, ruleId: 'sms-daily', quietUntil: null },
      { channel: 'inapp', remaining: 4, ruleId: 'sale-any', quietUntil: null },
    ]);
    expect((await budget(userId)).channels[1]).toMatchObject({
      channel: 'email',
      remaining: null,
      ruleId: null,
    });
  });

  it('counts a send reserved by an api process whose clock is ahead, as the decisions do', async () => {
    await putRule('push-pair', { channel: 'push', limit: 2, window: '1h' });
    const userId = 'u-budget-ahead';
    // Another api process, its clock 5 s ahead of this one's, reserved a push just now.
    const ahead = await app.pushLedger.decide(
      {
        userId,
        decisionUuid: '00000000-0000-4000-8000-000000000001',
        nowMs: NOW + 5_000,
        channel: 'push',
        category: null,
        campaignId: 'ahead',
        duplicateMs: HOUR,
        checkCaps: true,
        reserve: 'counted',
        retentionMs: 31 * 24 * HOUR,
        rules: packPushRules([
          {
            channel: 'push',
            category: null,
            windowMs: HOUR,
            effectiveLimit: 2,
            activeUntilMs: null,
            startsAtMs: null,
          },
        ]),
      },
      null,
    );
    expect(ahead.result.reason).toBe('ok');
    const decided = await decide({ userId, channel: 'push', campaignId: 'here', dryRun: true });
    expect(decided.remaining).toEqual([
      { ruleId: 'push-pair', remaining: 1, resetsAt: new Date(NOW + 5_000 + HOUR).toISOString() },
    ]);
    const reply = await budget(userId);
    expect(reply.rules).toEqual([expect.objectContaining({ ruleId: 'push-pair', used: 1, remaining: 1 })]);
    expect(reply.channels[0]).toMatchObject({ channel: 'push', remaining: 1 });
  });

  it('counts every decision by channel, campaign and reason', async () => {
    await putRule('stats-cap', { channel: 'inapp', limit: 1, window: '1h', category: 'stats' });
    const from = new Date(NOW - HOUR).toISOString();
    for (const userId of ['s1', 's2']) {
      await decide({ userId, channel: 'inapp', campaignId: 'stats-campaign', category: 'stats' });
      await decide({ userId, channel: 'inapp', campaignId: 'stats-campaign', category: 'stats' });
      await decide({ userId, channel: 'inapp', campaignId: 'stats-other', category: 'stats' });
    }
    await decide({ userId: 's1', channel: 'inapp', campaignId: 'stats-campaign', dryRun: true });
    const to = new Date(NOW + HOUR).toISOString();
    const response = await app.inject({ method: 'GET', url: `/v1/push/stats?from=${from}&to=${to}` });
    const stats = response.json() as PushStatsReply;
    const rows = stats.rows.filter((r) => r.campaignId.startsWith('stats-'));
    expect(
      rows.sort((a, b) => a.campaignId.localeCompare(b.campaignId) || a.reason.localeCompare(b.reason)),
    ).toEqual([
      { channel: 'inapp', campaignId: 'stats-campaign', reason: 'duplicate_campaign', count: 2 },
      { channel: 'inapp', campaignId: 'stats-campaign', reason: 'ok', count: 2 },
      { channel: 'inapp', campaignId: 'stats-other', reason: 'cap_exceeded', count: 2 },
    ]);
    expect(stats.byCampaign['stats-campaign']).toBe(4);
    expect(stats.total).toBe(stats.rows.reduce((sum, r) => sum + r.count, 0));
    expect(stats.byReason.ok).toBeGreaterThanOrEqual(2);
    const bad = await app.inject({ method: 'GET', url: `/v1/push/stats?from=${to}&to=${from}` });
    expect(bad.statusCode).toBe(400);
  });

  it('counts campaigns named like properties every object has', async () => {
    const campaignIds = ['constructor', 'toString', 'hasOwnProperty'];
    for (const campaignId of campaignIds) await decide({ userId: 'u-named', channel: 'email', campaignId });
    const from = new Date(NOW - HOUR).toISOString();
    const to = new Date(NOW + HOUR).toISOString();
    const response = await app.inject({ method: 'GET', url: `/v1/push/stats?from=${from}&to=${to}` });
    expect(response.statusCode).toBe(200);
    const stats = response.json() as PushStatsReply;
    for (const campaignId of campaignIds) expect(stats.byCampaign[campaignId]).toBe(1);
  });

  it('counts a campaign named __proto__ in byCampaign, so the totals add up', async () => {
    await decide({ userId: 'u-proto', channel: 'sms', campaignId: '__proto__' });
    const from = new Date(NOW - HOUR).toISOString();
    const to = new Date(NOW + HOUR).toISOString();
    const response = await app.inject({ method: 'GET', url: `/v1/push/stats?from=${from}&to=${to}` });
    expect(response.statusCode).toBe(200);
    const stats = response.json() as PushStatsReply;
    expect(Object.entries(stats.byCampaign)).toContainEqual(['__proto__', 1]);
    const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
    expect(sum(stats.byCampaign)).toBe(stats.total);
  });
});

describe('without Redis', () => {
  it('refuses decisions as unavailable instead of failing or sending unchecked', async () => {
    const down = await build({ ...infra.env, REDIS_URL: 'redis://127.0.0.1:1' }, { level: 'silent' });
    try {
      const reply = await decide(
        { userId: 'u-down', channel: 'push', campaignId: 'c' },
        deciderHeaders,
        down,
      );
      expect(reply).toMatchObject({ allowed: false, reason: 'unavailable', remaining: [] });
      expect(reply.retryAt).toBe(new Date(NOW + 1000).toISOString());
    } finally {
      await down.close();
    }
  });
});
