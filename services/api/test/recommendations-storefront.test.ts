import type { RecommendationsReply } from '@elevens/domain';
import { ModelStore } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { fixtureModel, testApiConfig } from './recommendations-fixtures';

/**
 * Recommendations as a storefront and its marketers meet them: experiment arms that name a list, and
 * experiments that end on their own. The clock is fixed (experiment windows are read on it); polls run only when
 * a test asks.
 */
let infra: TestInfra;
let app: ApiApp;
let clockMs = Date.parse('2026-11-11T00:00:00Z');

beforeAll(async () => {
  infra = await createTestInfra('api-recs-storefront');
  const store = new ModelStore(infra.redis, infra.keys);
  await store.line().publish(fixtureModel('v-fixture'));
  await store.line('llr').publish({ ...fixtureModel('v-llr'), algorithm: 'llr' });
  app = await buildApiApp({
    config: { ...testApiConfig(infra.env), MODEL_POLL_MS: 60_000 },
    now: () => clockMs,
  });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

const HOUR_MS = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

const recommendations = async (query: string) => {
  const response = await app.inject({ method: 'GET', url: `/v1/recommendations?${query}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as RecommendationsReply;
};
const sources = (reply: RecommendationsReply) => reply.items.map((i) => [i.itemId, i.source]);

const putExperiment = async (id: string, body: object) => {
  const response = await app.inject({ method: 'PUT', url: `/v1/experiments/${id}`, payload: body });
  expect(response.statusCode, response.body).toBe(200);
  await app.experiments.refresh();
};

/** The answers of new shoppers, one per arm, found among the first users hashed to each. */
async function answerPerArm(query: string): Promise<Map<string, RecommendationsReply>> {
  const byArm = new Map<string, RecommendationsReply>();
  for (let i = 0; i < 100 && byArm.size < 2; i++) {
    const reply = await recommendations(`userId=new-${i}&${query}`);
    if (!byArm.has(reply.arm!)) byArm.set(reply.arm!, reply);
  }
  return byArm;
}

describe('experiment arms naming a list', () => {
  it('answers a popular arm from the popular list and a trending arm from the trending list', async () => {
    await putExperiment('lists', {
      arms: [
        { name: 'popular', share: 0.5, algorithm: 'popular' },
        { name: 'trending', share: 0.5, algorithm: 'trending' },
      ],
    });
    try {
      // The fixture's popular list is h5, h4, h3, b5; its trending list b1.
      const home = await answerPerArm('limit=5');
      expect(sources(home.get('popular')!)).toEqual([
        ['h5', 'popular'],
        ['h4', 'popular'],
        ['h3', 'popular'],
        ['b5', 'popular'],
        ['b1', 'trending'],
      ]);
      expect(sources(home.get('trending')!)).toEqual([
        ['b1', 'trending'],
        ['h5', 'popular'],
        ['h4', 'popular'],
        ['h3', 'popular'],
        ['b5', 'popular'],
      ]);
      // On a product page the page's similar items come first in both arms; then each arm's own list.
      const product = await answerPerArm('limit=6&context=product&itemId=a0');
      expect(sources(product.get('popular')!)).toEqual([
        ['a1', 'similar'],
        ['a2', 'similar'],
        ['b0', 'similar'],
        ['a5', 'popular'],
        ['h5', 'popular'],
        ['h4', 'popular'],
      ]);
      expect(sources(product.get('trending')!)).toEqual([
        ['a1', 'similar'],
        ['a2', 'similar'],
        ['b0', 'similar'],
        ['b1', 'trending'],
        ['a5', 'popular'],
        ['h5', 'popular'],
      ]);
    } finally {
      await app.inject({ method: 'DELETE', url: '/v1/experiments/lists' });
      await app.experiments.refresh();
    }
  });
});

describe('an experiment that ends', () => {
  it('lets its model go at the first poll after its end, with no change to the experiment set', async () => {
    await putExperiment('festival', {
      arms: [
        { name: 'control', share: 0.5 },
        { name: 'llr', share: 0.5, algorithm: 'llr' },
      ],
      placement: 'cart',
      from: iso(clockMs - HOUR_MS),
      until: iso(clockMs + HOUR_MS),
    });
    await app.model.refresh();
    expect(app.model.forArm({ algorithm: 'llr' })).toMatchObject({
      snapshot: { version: 'v-llr' },
      modelFallback: false,
    });

    clockMs += 2 * HOUR_MS;
    await app.experiments.refresh();
    await app.model.refresh();
    expect(app.experiments.current().experiments.map((e) => e.id)).not.toContain('festival');
    // No experiment running names the llr line any more: it is no longer held.
    expect(app.model.forArm({ algorithm: 'llr' })).toMatchObject({
      snapshot: { version: 'v-fixture' },
      modelFallback: true,
    });
    const cart = await recommendations('userId=late&context=cart&itemId=a0&limit=3');
    expect(cart.experiment).toBeUndefined();
    expect(cart.modelVersion).toBe('v-fixture');
  });
});
