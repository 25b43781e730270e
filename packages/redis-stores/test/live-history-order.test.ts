import {
  type HistoryEntry,
  LIVE_HISTORY_LENGTH,
  type LiveEvent,
  readUserHistory,
  recordLiveEvents,
} from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('live-history-order');
});

afterAll(async () => {
  await infra?.close();
});

const NOW = 1_800_000_000_000;

/**
 * The history a user's events must leave, given in the order they arrived: the newest by time, events of one
 * millisecond in the order they arrived.
 */
function expectedHistory(arrived: readonly LiveEvent[]): HistoryEntry[] {
  const order = Array.from(arrived.keys()).sort(
    (a, b) => arrived[b]!.timestampMs - arrived[a]!.timestampMs || b - a,
  );
  return order.slice(0, LIVE_HISTORY_LENGTH).map((k) => {
    const { type, itemId, timestampMs } = arrived[k]!;
    return { type, itemId, timestampMs };
  });
}

/** A deterministic generator of numbers in [0, 1) (a linear congruential generator). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

const view = (userId: string, itemId: string, timestampMs: number): LiveEvent => ({
  userId,
  itemId,
  type: 'view',
  timestampMs,
});

const itemIdsOf = async (userId: string) =>
  (await readUserHistory(infra.redis, infra.keys, userId)).map((e) => e.itemId);

it('holds the newest events in order after every batch, late and out-of-order ones and ties included', async () => {
  const next = random(7);
  const itemIds = ['a', 'a b', 'ab', 'é', '\uE000', '\u{1F600}', 'z"q', 'back\\slash'];
  const types = ['view', 'cart', 'fav', 'purchase', 'click'];
  const sent: LiveEvent[] = [];
  for (let batch = 0; batch < 60; batch++) {
    // Mostly newer than what came before, sometimes hours older, often in the same millisecond.
    const late = next() < 0.3;
    const size = 1 + Math.floor(next() * (late ? 120 : 12));
    const events = Array.from({ length: size }, () => ({
      userId: 'ordered',
      itemId: itemIds[Math.floor(next() * itemIds.length)]!,
      type: types[Math.floor(next() * types.length)]!,
      timestampMs: late ? NOW + Math.floor(next() * batch * 4) : NOW + batch * 4 + Math.floor(next() * 3),
    }));
    sent.push(...events);
    await recordLiveEvents(infra.redis, infra.keys, events);
    expect(await readUserHistory(infra.redis, infra.keys, 'ordered')).toEqual(expectedHistory(sent));
  }
});

it('keeps events of one millisecond in the order they arrived, within a batch and across batches', async () => {
  // Ids in the reverse of their arrival order byte by byte: an order by entry text would turn them round.
  await recordLiveEvents(infra.redis, infra.keys, [view('tied', 'z', NOW), view('tied', 'y', NOW)]);
  expect(await itemIdsOf('tied')).toEqual(['y', 'z']);
  // A batch of the stored newest time arrived after it: it goes after, appended.
  await recordLiveEvents(infra.redis, infra.keys, [view('tied', 'x', NOW), view('tied', 'w', NOW)]);
  expect(await itemIdsOf('tied')).toEqual(['w', 'x', 'y', 'z']);
  // A batch reaching back is merged: its events of the stored newest time go after the stored ones.
  await recordLiveEvents(infra.redis, infra.keys, [
    view('tied', 'v', NOW),
    view('tied', 'late', NOW - 1),
    view('tied', 'u', NOW),
  ]);
  expect(await itemIdsOf('tied')).toEqual(['u', 'v', 'w', 'x', 'y', 'z', 'late']);
});

it('puts a history stored out of order in order by time, events of one time as stored, when a batch is merged into it', async () => {
  // As written before histories were kept in order: runs of one time, each run's ids in the reverse of their
  // byte order, the runs not in time order; enough entries that an unstable sort would mix up a run.
  const stored = [30, 10, 20, 40, 10, 30, 20].flatMap((ms, run) =>
    Array.from({ length: 12 }, (_, k) => view('unordered', `r${run}-${String(11 - k).padStart(2, '0')}`, ms)),
  );
  await infra.redis.set(
    infra.keys.userHistory('unordered'),
    `${String(stored.length).padStart(6, '0')}\n${stored.map((e) => `${JSON.stringify(['view', e.itemId, e.timestampMs])}\n`).join('')}`,
  );
  await recordLiveEvents(infra.redis, infra.keys, [view('unordered', 'late', 5)]);
  expect(await readUserHistory(infra.redis, infra.keys, 'unordered')).toEqual(
    expectedHistory([view('unordered', 'late', 5), ...stored]),
  );
});
