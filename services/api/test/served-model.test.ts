import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { RecommendationsReply } from '@elevens/domain';
import { DEFAULT_SERVING_SETTINGS, recommend, weighUserHistory } from '@elevens/recommender';
import {
  decodeScored,
  type LiveEvent,
  loadModelSnapshot,
  type ModelToPublish,
  type PackedLists,
  publishModel,
  recordLiveEvents,
  rollbackModel,
  type ScoredIndexes,
  writeUserProfile,
} from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { blendTrending } from '../src/plugins/model';
import { recommendFor } from '../src/recommendations-service';
import { testApiConfig } from './recommendations-fixtures';

/**
 * The served path (the whole model in process, a user's state in one script call) against the reference: the
 * same `recommend()` fed by plain Redis reads of the user's keys and the version's list hashes, over thousands
 * of users' answers compared by one fingerprint; and the version switch as readers see it.
 */
let infra: TestInfra;
let app: ApiApp;

const ITEMS = 1_500;
const CATEGORIES = 15;
const USERS = 3_000;
const TYPES = ['view', 'view', 'view', 'fav', 'cart', 'purchase'] as const;
/** A fixed past day: the live trending hours of the test's own time hold none of these events. */
const DAY_MS = Date.UTC(2025, 10, 11);

/** A small deterministic generator (mulberry32), so a failure replays. */
function rngOf(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const itemId = (i: number) => `it${i}`;
const ITEM_IDS = Array.from({ length: ITEMS }, (_, i) => itemId(i));

function randomLists(random: () => number, perItem: number): PackedLists {
  const ptr = new Uint32Array(ITEMS + 1);
  const idx: number[] = [];
  const score: number[] = [];
  for (let item = 0; item < ITEMS; item++) {
    // Some items have no list, as in a real build.
    const length = random() < 0.1 ? 0 : 1 + Math.floor(random() * perItem);
    const chosen = new Set<number>();
    let s = 1;
    while (chosen.size < length) {
      const neighbor = Math.floor(random() * ITEMS);
      if (neighbor === item || chosen.has(neighbor)) continue;
      chosen.add(neighbor);
      s *= 0.5 + random() / 2;
      idx.push(neighbor);
      score.push(s);
    }
    ptr[item + 1] = idx.length;
  }
  return { ptr, idx: Uint32Array.from(idx), score: Float32Array.from(score) };
}

function randomModel(version: string, seed: number): ModelToPublish {
  const random = rngOf(seed);
  const category = (i: number) => `c${i % CATEGORIES}`;
  const top = (n: number, of: (i: number) => boolean = () => true) => {
    const idx = ITEM_IDS.map((_, i) => i).filter(of);
    const picked = idx.sort(() => random() - 0.5).slice(0, n);
    return { idx: Uint32Array.from(picked), score: Float64Array.from(picked.map((_, k) => n - k)) };
  };
  return {
    version,
    algorithm: 'random',
    builtAtMs: DAY_MS,
    itemIds: ITEM_IDS,
    itemCategories: ITEM_IDS.map((_, i) => category(i)),
    neighbors: randomLists(random, 30),
    boughtTogether: randomLists(random, 6),
    popular: top(100),
    trending: top(30),
    popularByCategory: new Map(
      Array.from({ length: CATEGORIES }, (_, c) => [`c${c}`, top(20, (i) => i % CATEGORIES === c)]),
    ),
  };
}

const users = Array.from({ length: USERS }, (_, u) => `user${u}`);

beforeAll(async () => {
  infra = await createTestInfra('api-served-model');
  // Polls only when the test asks (refresh), so each switch happens where the test says.
  app = await buildApiApp({ config: { ...testApiConfig(infra.env), MODEL_POLL_MS: 60_000 } });
  const random = rngOf(7);
  const events: LiveEvent[] = [];
  for (const userId of users) {
    const count = 1 + Math.floor(random() * 40);
    for (let e = 0; e < count; e++)
      events.push({
        userId,
        itemId: itemId(Math.floor(random() * ITEMS)),
        type: TYPES[Math.floor(random() * TYPES.length)]!,
        timestampMs: DAY_MS - Math.floor(random() * 30 * 86_400_000),
      });
  }
  events.sort((a, b) => a.timestampMs - b.timestampMs);
  for (let i = 0; i < events.length; i += 5_000)
    await recordLiveEvents(infra.redis, infra.keys, events.slice(i, i + 5_000));
  for (let u = 0; u < USERS; u += 97)
    await writeUserProfile(infra.redis, infra.keys, users[u]!, {
      personalization: false,
      push: true,
      timezone: null,
      revision: 1,
    });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

/** `recommend()` on plain reads: the user's keys one command each, the version's lists by HMGET. */
const snapshots = new Map<string, ReturnType<typeof loadModelSnapshot>>();

async function reference(userId: string, version: string): Promise<RecommendationsReply['items']> {
  const { redis, keys } = infra;
  if (!snapshots.has(version)) snapshots.set(version, loadModelSnapshot(redis, keys, version));
  const snapshot = (await snapshots.get(version))!;
  const [stored, purchased, consent] = await Promise.all([
    redis.get(keys.userHistory(userId)),
    redis.smembers(keys.userPurchased(userId)),
    redis.hget(keys.userProfile(userId), 'personalization'),
  ]);
  // The stored text: a count line, then one JSON entry per line, oldest first.
  const entries = (stored ?? '000000\n')
    .split('\n')
    .slice(1, -1)
    .reverse()
    .slice(0, DEFAULT_SERVING_SETTINGS.historyLength);
  const history = entries.map((entry) => {
    const [type, item, timestampMs] = JSON.parse(entry) as [string, string, number];
    return { type, itemId: item, timestampMs };
  });
  const weights =
    consent === '0' ? new Map<string, number>() : weighUserHistory(history, app.recommendationSettings);
  const neighbors = new Map<string, ScoredIndexes>();
  if (weights.size > 0) {
    const ids = [...weights.keys()];
    const buffers = await redis.hmgetBuffer(keys.modelNeighbors(version), ...ids);
    ids.forEach((id, k) => {
      if (buffers[k]) neighbors.set(id, decodeScored(buffers[k]!));
    });
  }
  return recommend({
    // The served trending blends the live hourly counters, which hold nothing of this test's past day.
    model: { ...snapshot, trending: blendTrending(snapshot, [], [], 0) },
    historyWeights: weights,
    neighbors,
    purchased: new Set(purchased),
    exclude: new Set(),
    isServable: () => true,
    limit: 10,
    offset: 0,
    settings: app.recommendationSettings,
  }).items;
}

const fingerprint = (answers: readonly unknown[]) =>
  createHash('sha1').update(JSON.stringify(answers)).digest('hex');

/** Served answers for every user, `concurrency` at a time (so reads share turns, as under load). */
async function servedAnswers(concurrency = 100) {
  const answers: RecommendationsReply[] = [];
  for (let u = 0; u < USERS; u += concurrency)
    answers.push(
      ...(await Promise.all(
        users.slice(u, u + concurrency).map((userId) => recommendFor(app, { userId, limit: 10 })),
      )),
    );
  return answers;
}

describe('the served model held in process', () => {
  it('answers thousands of users exactly as recommend() on plain Redis reads (one fingerprint of every answer)', async () => {
    await publishModel(infra.redis, infra.keys, randomModel('v1', 1));
    await app.model.refresh();
    const served = await servedAnswers();
    expect(new Set(served.map((answer) => answer.modelVersion))).toEqual(new Set(['v1']));
    expect(served.filter((answer) => answer.degraded)).toEqual([]);
    const expected = await Promise.all(users.map((userId) => reference(userId, 'v1')));
    const got = served.map((answer) => answer.items);
    if (fingerprint(got) !== fingerprint(expected)) {
      const u = got.findIndex((items, k) => JSON.stringify(items) !== JSON.stringify(expected[k]));
      expect({ user: users[u], items: got[u] }).toEqual({ user: users[u], items: expected[u] });
    }
    // Personal answers for nearly everyone: the comparison is not of fallbacks.
    expect(served.filter((answer) => answer.personalized).length).toBeGreaterThan(0.9 * USERS);
  }, 120_000);

  it('switches versions whole for readers, serves a rollback after one poll and lets the old version go', async () => {
    // Weak, so the test itself keeps no version alive.
    const v1Lists = new WeakRef(app.model.current()!.lists.neighbors);
    await publishModel(infra.redis, infra.keys, randomModel('v2', 2));
    // Readers run while the poll loads v2: every answer is wholly v1's or wholly v2's.
    let loading = true;
    const seen: RecommendationsReply[] = [];
    const read = async (r: number, k: number) => {
      seen.push(await recommendFor(app, { userId: users[(r * 131 + k * 17) % USERS]!, limit: 10 }));
    };
    // Each reader starts a read before the load does, reads while it lasts, and once more after the switch.
    const readers = Array.from({ length: 8 }, async (_, r) => {
      let k = 0;
      while (loading) await read(r, k++);
      await read(r, k);
    });
    await app.model.refresh();
    loading = false;
    await Promise.all(readers);
    expect(app.model.current()!.version).toBe('v2');
    expect(new Set(seen.map((answer) => answer.modelVersion))).toEqual(new Set(['v1', 'v2']));
    for (const answer of seen)
      expect(answer.items).toEqual(await reference(answer.userId, answer.modelVersion!));

    const v2Lists = new WeakRef(app.model.current()!.lists.neighbors.idx);
    await rollbackModel(infra.redis, infra.keys);
    await app.model.refresh();
    expect(app.model.current()!.version).toBe('v1');
    // The version replaced by v2 was kept: the rollback is served without loading it again.
    expect(app.model.current()!.lists.neighbors).toBe(v1Lists.deref());
    const rolledBack = await recommendFor(app, { userId: users[5]!, limit: 10 });
    expect(rolledBack.modelVersion).toBe('v1');
    expect(rolledBack.items).toEqual(await reference(users[5]!, 'v1'));

    // Nothing of the process holds v2, rolled back from, once it is no longer served.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(v2Lists.deref()).toBeUndefined();

    // Two refreshes at once (a caller's and the poller's) load v3 once: v1 stays kept, and a rollback finds it.
    await publishModel(infra.redis, infra.keys, randomModel('v3', 3));
    await Promise.all([app.model.refresh(), app.model.refresh()]);
    expect(app.model.current()!.version).toBe('v3');
    await rollbackModel(infra.redis, infra.keys);
    await app.model.refresh();
    expect(app.model.current()!.lists.neighbors).toBe(v1Lists.deref());

    // Two publishes on: v4 replaces v1 (kept), v5 replaces v4 (kept), and v1 is let go.
    for (const [version, seed] of [
      ['v4', 4],
      ['v5', 5],
    ] as const) {
      await publishModel(infra.redis, infra.keys, randomModel(version, seed));
      await app.model.refresh();
      expect(app.model.current()!.version).toBe(version);
    }
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(v1Lists.deref()).toBeUndefined();
  }, 60_000);
});
