import { type ApiApp, buildApiApp, loadApiConfig } from '@elevens/api';
import { createApiKey } from '@elevens/db';
import { decodeAnswerId, type RecommendationsReply, type RecommendationsReport } from '@elevens/domain';
import { createRng, generateCatalog, generateEvents, userIdOf } from '@elevens/generator';
import { buildIngestApp, type IngestApp, loadIngestConfig } from '@elevens/ingest';
import { ratioDifferenceP, type UserRatioMoments } from '@elevens/stats';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { type BuildReport, loadBuildConfig, runBuild } from '@elevens/trainer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Issue #19's proof: two experiment arms served from two model lines built from the same events with different
 * algorithms, a simulated population whose clicks follow one line's recommendations, the report finding that
 * arm, and its counts equal to a count over the raw events.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const BASE_MS = Date.parse('2026-11-10T22:00:00Z');
const shop = { users: 400, items: 150, events: 16_000, seed: 23, startMs: BASE_MS - 14 * DAY_MS, days: 14 };
/** Every user of the shop with events (the generator numbers them from 0). */
const USERS = Array.from({ length: shop.users }, (_, i) => userIdOf(i));
const ARMS = [
  { name: 'control', share: 0.5, algorithm: 'cosine' },
  { name: 'b', share: 0.5, algorithm: 'llr' },
];
/** A shown item is clicked at the base rate, more often when the population's taste (the llr line) has it. */
const BASE_CLICK = 0.03;
const TASTE_CLICK = 0.12;

let infra: TestInfra;
let api: ApiApp;
let ingest: IngestApp;
let apiUrl: string;
let ingestUrl: string;
let admin: string;
const builds: Record<string, BuildReport> = {};

const auth = () => ({ authorization: `Bearer ${admin}` });

/** A request over HTTP to a listening service (the path a storefront takes), answered as status, body and JSON. */
async function request(
  baseUrl: string,
  options: { method: string; url: string; headers?: Record<string, string>; payload?: unknown },
) {
  const response = await fetch(`${baseUrl}${options.url}`, {
    method: options.method,
    headers: {
      ...(options.payload === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    ...(options.payload === undefined ? {} : { body: JSON.stringify(options.payload) }),
  });
  const body = await response.text();
  return { statusCode: response.status, body, json: () => JSON.parse(body) };
}
const put = (id: string, body: unknown) =>
  request(apiUrl, {
    method: 'PUT',
    url: `/v1/experiments/${id}`,
    headers: auth(),
    payload: body as Record<string, unknown>,
  });
const remove = (id: string) =>
  request(apiUrl, { method: 'DELETE', url: `/v1/experiments/${id}`, headers: auth() });

async function recommendations(userId: string, context = 'home', itemId?: string) {
  const query = `userId=${userId}&limit=10&context=${context}${itemId ? `&itemId=${itemId}` : ''}`;
  const response = await request(apiUrl, {
    method: 'GET',
    url: `/v1/recommendations?${query}`,
    headers: auth(),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as RecommendationsReply;
}

/** How many users visit at once: a storefront's visitors overlap, and the test waits on fewer round trips. */
const VISITORS_AT_ONCE = 16;

/** `visit` for every user, VISITORS_AT_ONCE users at a time; the results in `users`' order. */
async function eachUser<T>(users: readonly string[], visit: (userId: string) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const visitor = async () => {
    while (next < users.length) {
      const i = next++;
      results[i] = await visit(users[i]!);
    }
  };
  await Promise.all(Array.from({ length: VISITORS_AT_ONCE }, visitor));
  return results;
}

/** The api re-reads the experiment set, then (the poll after) loads the models the experiments name. */
async function poll() {
  await api.experiments.refresh();
  await api.model.refresh();
}

async function sendEvents(events: readonly unknown[]) {
  for (let i = 0; i < events.length; i += 1_000) {
    const response = await request(ingestUrl, {
      method: 'POST',
      url: '/v1/events',
      payload: { events: events.slice(i, i + 1_000) },
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json().rejected).toEqual([]);
  }
}

const build = (model: string, algorithm: string) =>
  runBuild(
    { ...infra, log: () => {} },
    loadBuildConfig({ ...infra.env, BUILD_MODEL: model, BUILD_ALGORITHM: algorithm, BUILD_MIN_SUPPORT: '1' }),
  );

beforeAll(async () => {
  infra = await createTestInfra('experiments-models');
  admin = (await createApiKey(infra.pool, { name: 'ops', scopes: ['admin'] })).secret;
  ingest = await buildIngestApp({
    config: { ...loadIngestConfig({ ...infra.env, LOG_LEVEL: 'error' }), ATTRIBUTION_SAFETY_LAG_MS: 20 },
  });
  ingestUrl = await ingest.listen({ host: '127.0.0.1', port: 0 });
  const items = [...generateCatalog(shop)];
  const put = await request(ingestUrl, { method: 'PUT', url: '/v1/items', payload: { items } });
  expect(put.statusCode, put.body).toBe(200);
  await sendEvents([...generateEvents(shop)]);
  // The default line (answers outside experiments) and one line per arm, all from the same events.
  builds.default = await build('default', 'cosine');
  builds.cosine = await build('cosine', 'cosine');
  builds.llr = await build('llr', 'llr');
  for (const report of Object.values(builds)) expect(report.status).toBe('published');
  api = await buildApiApp({
    config: loadApiConfig({
      ...infra.env,
      AUTH_REQUIRED: 'true',
      LOG_LEVEL: 'silent',
      // The test polls itself (`poll`); the timer's polls, seldom, would only do the same.
      MODEL_POLL_MS: '60000',
    }),
    now: () => BASE_MS,
  });
  apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
}, 240_000);

afterAll(async () => {
  await api?.close();
  await ingest?.close();
  await infra?.close();
});

describe('experiment arms served from their own models', () => {
  it('finds the arm whose model the population follows, with counts equal to a count over the raw events', async () => {
    // The population's taste: what the llr line recommends to each user (served to everyone by a probe
    // experiment, then ended), so clicks follow arm b's model, not its label.
    expect(
      (
        await put('probe', {
          arms: [
            { name: 'taste', share: 0.9999, algorithm: 'llr' },
            { name: 'rest', share: 0.0001 },
          ],
        })
      ).statusCode,
    ).toBe(200);
    await poll();
    const taste = new Map<string, Set<string>>();
    const probed = await eachUser(USERS, (userId) => recommendations(userId));
    for (const [i, answer] of probed.entries()) {
      const userId = USERS[i]!;
      if (answer.arm !== 'taste') continue;
      expect(answer.modelVersion).toBe(builds.llr!.version);
      taste.set(userId, new Set(answer.items.map((item) => item.itemId)));
    }
    expect(taste.size).toBeGreaterThan(shop.users * 0.9);
    expect((await remove('probe')).statusCode).toBe(200);

    expect((await put('models', { arms: ARMS })).statusCode).toBe(200);
    await poll();
    const rng = createRng(19);
    const events: Record<string, unknown>[] = [];
    const versionsByArm = new Map<string, Set<string>>();
    let differing = 0;
    const visitors = USERS.filter((userId) => taste.has(userId));
    // A user's three visits one after another, as the reply cache would see them; the clicks are drawn after, in
    // the users' order, so the same answers make the same events.
    const visits = await eachUser(visitors, async (userId) => {
      const answers: RecommendationsReply[] = [];
      for (let visit = 0; visit < 3; visit++) answers.push(await recommendations(userId));
      return answers;
    });
    for (const [i, userId] of visitors.entries()) {
      const liked = taste.get(userId)!;
      for (const [visit, answer] of visits[i]!.entries()) {
        expect(answer.experiment).toBe('models');
        expect(answer.modelFallback).toBeUndefined();
        versionsByArm.set(
          answer.arm!,
          (versionsByArm.get(answer.arm!) ?? new Set()).add(answer.modelVersion!),
        );
        if (visit === 0 && answer.items.some((item) => !liked.has(item.itemId))) differing++;
        const atMs = BASE_MS + visit * HOUR_MS + rng.nextInt(HOUR_MS / 2);
        const { recommendationId } = answer;
        for (const { itemId } of answer.items) {
          events.push({ userId, itemId, type: 'impression', timestamp: atMs, recommendationId });
          if (rng.next() < (liked.has(itemId) ? TASTE_CLICK : BASE_CLICK))
            events.push({ userId, itemId, type: 'click', timestamp: atMs + 1_000, recommendationId });
        }
      }
    }
    // Each arm was answered from its own line's model, and the two models answer differently.
    expect(versionsByArm).toEqual(
      new Map([
        ['control', new Set([builds.cosine!.version])],
        ['b', new Set([builds.llr!.version])],
      ]),
    );
    expect(differing).toBeGreaterThan(50);

    await sendEvents(events);
    await ingest.attribution.catchUp(Date.now());
    const window = `from=${new Date(BASE_MS - HOUR_MS).toISOString()}&to=${new Date(BASE_MS + 6 * HOUR_MS).toISOString()}`;
    const response = await request(apiUrl, {
      method: 'GET',
      url: `/v1/reports/recommendations?${window}&experiment=models`,
      headers: auth(),
    });
    expect(response.statusCode, response.body).toBe(200);
    const report = response.json() as RecommendationsReport;
    expect(report.arms!.map((arm) => arm.arm).sort()).toEqual(['b', 'control']);
    const b = report.arms!.find((arm) => arm.arm === 'b')!;
    const control = report.arms!.find((arm) => arm.arm === 'control')!;
    expect(b.ctr!).toBeGreaterThan(control.ctr!);
    // Brute force: every stored event citing an answer of this experiment, counted by the arm its id names.
    const { rows } = await infra.pool.query<{ recommendation_id: string; type: string; user_id: string }>(
      'SELECT recommendation_id, type, user_id FROM events WHERE recommendation_id IS NOT NULL',
    );
    // Arms are tested per user (users are what is randomised): the delta-method t-test over each user's clicks and
    // impressions, recounted from the events.
    const userMoments = (arm: string): UserRatioMoments => {
      const byUser = new Map<string, { clicks: number; impressions: number }>();
      for (const row of rows) {
        const answer = decodeAnswerId(row.recommendation_id);
        if (answer.experiment !== 'models' || answer.arm !== arm) continue;
        const counts = byUser.get(row.user_id) ?? { clicks: 0, impressions: 0 };
        if (row.type === 'click') counts.clicks++;
        if (row.type === 'impression') counts.impressions++;
        byUser.set(row.user_id, counts);
      }
      const moments = {
        users: 0,
        numerator: 0,
        denominator: 0,
        numeratorSquares: 0,
        denominatorSquares: 0,
        crossProducts: 0,
      };
      for (const { clicks, impressions } of byUser.values()) {
        moments.users++;
        moments.numerator += clicks;
        moments.denominator += impressions;
        moments.numeratorSquares += clicks * clicks;
        moments.denominatorSquares += impressions * impressions;
        moments.crossProducts += clicks * impressions;
      }
      return moments;
    };
    expect(report.testedPer).toBe('user');
    expect(report.pValue).toBeLessThan(0.05);
    const expectedP = ratioDifferenceP(userMoments('b'), userMoments('control'))!;
    // Relative: both are far below 1e-12, where an absolute closeness says nothing.
    expect(Math.abs(report.pValue! / expectedP - 1)).toBeLessThan(1e-9);
    for (const arm of [b, control]) {
      const count = (type: string) =>
        rows.filter((row) => {
          const answer = decodeAnswerId(row.recommendation_id);
          return row.type === type && answer.experiment === 'models' && answer.arm === arm.arm;
        }).length;
      expect(arm.impressions).toBe(count('impression'));
      expect(arm.clicks).toBe(count('click'));
    }
    expect(b.impressions + control.impressions).toBe(events.filter((e) => e.type === 'impression').length);
    expect((await remove('models')).statusCode).toBe(200);
  });

  it('serves the default model, saying so, to an arm whose model is not published, and its own once it is', async () => {
    const arms = [
      { name: 'control', share: 0.5 },
      { name: 'pinned', share: 0.5, modelVersion: builds.cosine!.version },
    ];
    // An algorithm never built, and a version of a line: on placements of their own.
    const unbuilt = [
      { name: 'control', share: 0.5 },
      { name: 'b', share: 0.5, algorithm: 'ease' },
    ];
    expect((await put('unbuilt', { arms: unbuilt, placement: 'product' })).statusCode).toBe(200);
    expect((await put('pinned', { arms, placement: 'cart' })).statusCode).toBe(200);
    await poll();
    const itemId = (await recommendations(USERS[0]!)).items[0]!.itemId;
    for (const userId of USERS.slice(0, 40)) {
      const product = await recommendations(userId, 'product', itemId);
      expect(product).toMatchObject({ experiment: 'unbuilt', modelVersion: builds.default!.version });
      expect(product.modelFallback).toBe(product.arm === 'b' ? true : undefined);
      const cart = await recommendations(userId, 'cart', itemId);
      expect(cart.modelFallback).toBeUndefined();
      expect(cart.modelVersion).toBe(
        cart.arm === 'pinned' ? builds.cosine!.version : builds.default!.version,
      );
    }

    builds.ease = await build('ease', 'ease');
    await poll();
    for (const userId of USERS.slice(0, 20)) {
      const product = await recommendations(userId, 'product', itemId);
      expect(product.modelFallback).toBeUndefined();
      expect(product.modelVersion).toBe(product.arm === 'b' ? builds.ease.version : builds.default!.version);
    }

    // A newer build of the cosine line leaves the pinned version served; ending the experiments lets both go.
    const newer = await build('cosine', 'cosine');
    await poll();
    for (const userId of USERS.slice(0, 20)) {
      const cart = await recommendations(userId, 'cart', itemId);
      if (cart.arm === 'pinned') expect(cart.modelVersion).toBe(builds.cosine!.version);
    }
    expect(await api.modelStore.line('cosine').current()).toBe(newer.version);
    await remove('unbuilt');
    await remove('pinned');
    await poll();
    for (const userId of USERS.slice(0, 5))
      expect((await recommendations(userId, 'product', itemId)).modelVersion).toBe(builds.default!.version);
  });

  it("serves each arm its own model from a freshly started api's first answer, as a pod scaled out mid-experiment", async () => {
    expect((await put('fresh', { arms: ARMS, placement: 'home' })).statusCode).toBe(200);
    const lineOf = { control: 'cosine', b: 'llr' } as Record<string, string>;
    const current = async (line: string) => api.modelStore.line(line).current();
    const fresh = await buildApiApp({
      config: loadApiConfig({
        ...infra.env,
        AUTH_REQUIRED: 'false',
        LOG_LEVEL: 'silent',
        MODEL_POLL_MS: '60000',
      }),
      now: () => BASE_MS,
    });
    try {
      await fresh.ready();
      const arms = new Set<string>();
      for (const userId of USERS.slice(0, 20)) {
        const response = await fresh.inject({
          method: 'GET',
          url: `/v1/recommendations?userId=${userId}&limit=10&context=home`,
        });
        expect(response.statusCode, response.body).toBe(200);
        const reply = response.json() as RecommendationsReply;
        expect(reply.experiment).toBe('fresh');
        expect(reply.modelFallback).toBeUndefined();
        expect(reply.modelVersion).toBe(await current(lineOf[reply.arm!]!));
        arms.add(reply.arm!);
      }
      expect([...arms].sort()).toEqual(['b', 'control']);
    } finally {
      await fresh.close();
      await remove('fresh');
    }
  });
});
