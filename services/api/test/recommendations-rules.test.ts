import type { BoostRulesReply, RecommendationsReply } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { publishFixtureModel, testApiConfig } from './recommendations-fixtures';

let infra: TestInfra;
let app: ApiApp;

beforeAll(async () => {
  infra = await createTestInfra('api-boost-rules');
  await publishFixtureModel(infra.redis, infra.keys);
  app = await buildApiApp({ config: testApiConfig(infra.env) });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

const DAY_MS = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const coldAnswer = async (target: ApiApp = app) => {
  const response = await target.inject({ method: 'GET', url: '/v1/recommendations?userId=cold&limit=6' });
  return (response.json() as RecommendationsReply).items.map((i) => i.itemId);
};
const putRules = (payload: object) => app.inject({ method: 'PUT', url: '/v1/rules/boosts', payload });

/**
 * Until serving has the rules just PUT: polled every 50 ms here, a change is served within 1 s; the wait is longer
 * so a loaded machine passes too.
 */
const NEXT_POLL = { timeout: 10_000, interval: 20 };

/** Without rules a cold user gets: trending b1, then popular h5, h4, h3, b5, then the catalog from a0. */
const UNBOOSTED = ['b1', 'h5', 'h4', 'h3', 'b5', 'a0'];

describe('PUT /v1/rules/boosts', () => {
  it('starts with no rules', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/rules/boosts' });
    expect(response.json()).toEqual({ version: 0, boosts: [], pins: [], updatedBy: null, updatedAt: null });
    expect(await coldAnswer()).toEqual(UNBOOSTED);
  });

  it('applies an open boost and pin at the next poll, without restart, and stores who and when', async () => {
    const now = Date.now();
    const rules = {
      boosts: [{ category: 'b', factor: 10, from: iso(now - DAY_MS), until: iso(now + DAY_MS) }],
      pins: [{ itemId: 'a4', position: 1, from: iso(now - DAY_MS), until: iso(now + DAY_MS) }],
    };
    const response = await putRules(rules);
    expect(response.statusCode).toBe(200);
    const stored = response.json() as BoostRulesReply;
    expect(stored).toMatchObject({ ...rules, version: expect.any(Number), updatedBy: null });
    expect(Date.parse(stored.updatedAt!)).toBeGreaterThan(now - 60_000);
    await vi.waitFor(
      async () => expect(await coldAnswer()).toEqual(['a4', 'b1', 'b5', 'h5', 'h4', 'h3']),
      NEXT_POLL,
    );
    const read = await app.inject({ method: 'GET', url: '/v1/rules/boosts' });
    expect(read.json()).toEqual(stored);
    const { rows } = await infra.pool.query('SELECT version, updated_at FROM boost_rules ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual([stored.version]);
  });

  it('ignores boosts and pins whose window is closed', async () => {
    const now = Date.now();
    const response = await putRules({
      boosts: [{ category: 'b', factor: 10, from: iso(now + DAY_MS), until: iso(now + 2 * DAY_MS) }],
      pins: [{ itemId: 'a4', position: 1, until: iso(now - DAY_MS) }],
    });
    expect(response.statusCode).toBe(200);
    await vi.waitFor(async () => expect(await coldAnswer()).toEqual(UNBOOSTED), NEXT_POLL);
  });

  it('boosts and demotes single items', async () => {
    const response = await putRules({
      boosts: [
        { itemId: 'h3', factor: 2 },
        { itemId: 'h5', factor: 0.1 },
      ],
    });
    expect(response.json()).toMatchObject({ pins: [] });
    await vi.waitFor(
      async () => expect(await coldAnswer()).toEqual(['b1', 'h3', 'h4', 'b5', 'h5', 'a0']),
      NEXT_POLL,
    );
  });

  it('refuses malformed rules with 400 and keeps the rules in force', async () => {
    const before = (await app.inject({ method: 'GET', url: '/v1/rules/boosts' })).json();
    for (const bad of [
      { boosts: [{ category: 'b', itemId: 'a1', factor: 2 }] },
      { boosts: [{ factor: 2 }] },
      { boosts: [{ category: 'b', factor: -1 }] },
      { boosts: [{ category: 'b', factor: 2, from: '2026-11-12T00:00:00Z', until: '2026-11-10T00:00:00Z' }] },
      { pins: [{ itemId: 'a1', position: 0 }] },
      { pins: [{ itemId: 'a1', position: 1, from: 'tomorrow' }] },
    ]) {
      const response = await putRules(bad);
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toBe('bad_request');
    }
    expect((await app.inject({ method: 'GET', url: '/v1/rules/boosts' })).json()).toEqual(before);
  });

  it('refuses unknown fields with 400 naming them, so a misspelt window or list is not stored as no window or no rules', async () => {
    const before = (await app.inject({ method: 'GET', url: '/v1/rules/boosts' })).json();
    for (const [bad, path] of [
      [{ pins: [{ itemId: 'a4', position: 1, form: '2026-11-11T00:00:00+08:00' }] }, 'body.pins.0'],
      [{ boosts: [{ category: 'b', factor: 2, untill: '2026-11-12T00:00:00+08:00' }] }, 'body.boosts.0'],
      [{ boost: [{ category: 'b', factor: 2 }] }, 'body'],
    ] as const) {
      const response = await putRules(bad);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({
        error: 'bad_request',
        details: [{ path, message: expect.stringMatching(/form|untill|boost/) }],
      });
    }
    expect((await app.inject({ method: 'GET', url: '/v1/rules/boosts' })).json()).toEqual(before);
  });

  it('takes back what GET answers, edited: its version, author and time are ignored', async () => {
    const read = (await app.inject({ method: 'GET', url: '/v1/rules/boosts' })).json() as BoostRulesReply;
    const edited = { ...read, pins: [...read.pins, { itemId: 'a4', position: 2 }] };
    const response = await putRules(edited);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      version: read.version + 1,
      boosts: read.boosts,
      pins: edited.pins,
    });
    expect((await putRules(read)).json()).toMatchObject({ version: read.version + 2, pins: read.pins });
  });

  it('restores the Redis mirror from Postgres when a new API process finds it missing', async () => {
    const latest = (await app.inject({ method: 'GET', url: '/v1/rules/boosts' })).json() as BoostRulesReply;
    await infra.redis.del(infra.keys.rulesBoosts(), infra.keys.rulesBoostsVersion());
    const restarted = await buildApiApp({ config: testApiConfig(infra.env) });
    try {
      expect(restarted.boostRules.current()).toEqual(latest);
      expect(await coldAnswer(restarted)).toEqual(['b1', 'h3', 'h4', 'b5', 'h5', 'a0']);
      expect(await infra.redis.get(infra.keys.rulesBoostsVersion())).toBe(String(latest.version));
    } finally {
      await restarted.close();
    }
  });
});

describe('a pinned item in an answer', () => {
  it('is labelled pinned, whichever list would have filled its slot, in computed and cached answers alike', async () => {
    // h4 is also the popular list's second item: its label must come from the pin, not from that list.
    const response = await putRules({
      boosts: [],
      pins: [
        { itemId: 'a4', position: 1 },
        { itemId: 'h4', position: 3 },
      ],
    });
    expect(response.statusCode).toBe(200);
    const labelled = async () => {
      const reply = await app.inject({
        method: 'GET',
        url: '/v1/recommendations?userId=pinned-shopper&limit=6',
      });
      return (reply.json() as RecommendationsReply).items.map((i) => [i.itemId, i.source]);
    };
    const expected = [
      ['a4', 'pinned'],
      ['b1', 'trending'],
      ['h4', 'pinned'],
      ['h5', 'popular'],
      ['h3', 'popular'],
      ['b5', 'popular'],
    ];
    await vi.waitFor(async () => expect(await labelled()).toEqual(expected), NEXT_POLL);
    // Asked again under the same state: stored at the second computation, served from the cache at the third.
    const hits = async () =>
      (await app.metrics.recommendationCache.get()).values.find((v) => v.labels.result === 'hit')?.value ?? 0;
    const before = await hits();
    expect(await labelled()).toEqual(expected);
    await vi.waitFor(async () => {
      expect(await labelled()).toEqual(expected);
      expect(await hits()).toBeGreaterThan(before);
    }, NEXT_POLL);
  });
});
