/** A small hand-made model published through the real publishing path, for the API's recommendation tests. */
import {
  type ModelToPublish,
  type PackedLists,
  publishModel,
  type Redis,
  type RedisKeys,
} from '@elevens/redis-stores';
import { loadApiConfig } from '../src/config';

/** 4 categories × 6 items: a0…a5, b0…b5, g0…g5 (grocery, repurchasable), h0…h5. */
export const CATEGORIES = ['a', 'b', 'g', 'h'];
export const ITEM_IDS = CATEGORIES.flatMap((c) => Array.from({ length: 6 }, (_, i) => `${c}${i}`));
const index = (id: string) => ITEM_IDS.indexOf(id);

function packed(lists: Record<string, [string, number][]>): PackedLists {
  const ptr = new Uint32Array(ITEM_IDS.length + 1);
  const idx: number[] = [];
  const score: number[] = [];
  ITEM_IDS.forEach((id, i) => {
    for (const [neighbor, s] of lists[id] ?? []) {
      idx.push(index(neighbor));
      score.push(s);
    }
    ptr[i + 1] = idx.length;
  });
  return { ptr, idx: Uint32Array.from(idx), score: Float32Array.from(score) };
}

const scored = (entries: [string, number][]) => ({
  idx: entries.map(([id]) => index(id)),
  score: entries.map(([, s]) => s),
});

/**
 * Neighbours: a0 → a1, a2, b0 (similar shoes and a sock); h0 → h1; g0 → g1. Bought together: a0 → b3, b4.
 * Popular: h5, h4, h3, b5 (no a items, so a cold user's `a` answers come from category-popular). Trending: b1.
 */
export function fixtureModel(version: string): ModelToPublish {
  return {
    version,
    algorithm: 'fixture',
    builtAtMs: Date.now(),
    itemIds: ITEM_IDS,
    itemCategories: ITEM_IDS.map((id) => id[0]!),
    neighbors: packed({
      a0: [
        ['a1', 0.9],
        ['a2', 0.8],
        ['b0', 0.5],
      ],
      a1: [
        ['a0', 0.9],
        ['a3', 0.4],
      ],
      h0: [['h1', 0.7]],
      g0: [['g1', 0.6]],
    }),
    boughtTogether: packed({
      a0: [
        ['b3', 0.6],
        ['b4', 0.3],
      ],
    }),
    popular: scored([
      ['h5', 50],
      ['h4', 40],
      ['h3', 30],
      ['b5', 20],
    ]),
    trending: scored([['b1', 10]]),
    popularByCategory: new Map([
      [
        'a',
        scored([
          ['a5', 9],
          ['a4', 8],
          ['a3', 7],
        ]),
      ],
      ['g', scored([['g2', 5]])],
    ]),
  };
}

export const publishFixtureModel = (redis: Redis, keys: RedisKeys, version = 'v-fixture') =>
  publishModel(redis, keys, fixtureModel(version));

/** The API configuration the tests use: fast polls, a small category cap, grocery repurchasable. */
export const testApiConfig = (env: Record<string, string>) =>
  loadApiConfig({
    ...env,
    MODEL_POLL_MS: '50',
    BOOST_RULES_POLL_MS: '50',
    RECS_MAX_PER_CATEGORY: '3',
    RECS_REPURCHASABLE_CATEGORIES: 'g',
  });
