import { deleteKeysWithPrefix, LIVE_HISTORY_LENGTH, readUserHistory } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIngestApp, type IngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';
import { rebuildLiveState } from '../src/rebuild-live-state';

let infra: TestInfra;
let app: IngestApp;

beforeAll(async () => {
  infra = await createTestInfra('ingest-live-history-order');
  app = await buildIngestApp({ config: loadIngestConfig(infra.env) });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** The newest event of every case; the cases' events all lie before it, in the past whatever the clock says. */
const NOW = Date.now() - MINUTE;

interface SentEvent {
  eventId: string;
  userId: string;
  itemId: string;
  type: string;
  timestamp: number;
}

const postEvents = async (events: SentEvent[]) => {
  const reply = await app.inject({ method: 'POST', url: '/v1/events', payload: { events } });
  expect(reply.json()).toMatchObject({ accepted: events.length, rejected: [] });
};

/** What the API reads of a user's live history, and what a rebuild from Postgres gives instead. */
async function liveAndRebuilt(userId: string, length: number) {
  const live = await readUserHistory(infra.redis, infra.keys, userId, length);
  await deleteKeysWithPrefix(infra.redis, infra.keyPrefix);
  await rebuildLiveState(infra.pool, infra.redis, infra.keys, { sinceMs: NOW - 30 * DAY, nowMs: NOW });
  return { live, rebuilt: await readUserHistory(infra.redis, infra.keys, userId, length) };
}

/** A deterministic shuffle (a linear congruential generator), so a failure shows the same order again. */
function shuffled<T>(values: readonly T[], seed: number): T[] {
  const out = [...values];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('live history order', () => {
  it('keeps the recent session when a batch of older events arrives late (a retrying SDK, a backfill)', async () => {
    const recent = Array.from({ length: 60 }, (_, i) => ({
      eventId: `late-new-${i}`,
      userId: 'late',
      itemId: `new${i}`,
      type: 'view',
      timestamp: NOW - (60 - i) * MINUTE,
    }));
    const old = Array.from({ length: 200 }, (_, i) => ({
      eventId: `late-old-${i}`,
      userId: 'late',
      itemId: `old${i}`,
      type: 'view',
      timestamp: NOW - 2 * DAY + i * 1_000,
    }));
    await postEvents(recent);
    await postEvents(old);

    const { live, rebuilt } = await liveAndRebuilt('late', 50);
    expect(live.map((e) => e.itemId)).toEqual(Array.from({ length: 50 }, (_, i) => `new${59 - i}`));
    expect(live).toEqual(rebuilt);
  });

  it('holds the newest events by time, as a rebuild from Postgres does, whatever order they arrive in', async () => {
    // More events than the history keeps, batches of every size in a shuffled order: Redis must end up with what
    // Postgres rebuilds (times distinct: a rebuild orders events of one millisecond by event id instead).
    const count = LIVE_HISTORY_LENGTH + 150;
    const events = Array.from({ length: count }, (_, i) => ({
      eventId: `mix-${String(i).padStart(4, '0')}`,
      userId: 'mixed',
      itemId: `item-${(i * 7) % 90}`,
      type: ['view', 'cart', 'fav', 'click'][i % 4]!,
      timestamp: NOW - DAY + i * 1_000,
    }));
    const arrival = shuffled(events, 11);
    for (let from = 0, size = 1; from < arrival.length; from += size, size = (size * 3) % 97 || 1) {
      await postEvents(arrival.slice(from, from + size));
    }

    const { live, rebuilt } = await liveAndRebuilt('mixed', LIVE_HISTORY_LENGTH);
    expect(live).toHaveLength(LIVE_HISTORY_LENGTH);
    expect(live.map((e) => e.timestampMs)).toEqual(
      Array.from({ length: LIVE_HISTORY_LENGTH }, (_, i) => NOW - DAY + (count - 1 - i) * 1_000),
    );
    expect(live).toEqual(rebuilt);
  });

  it('keeps events of one millisecond in the order they arrived; a rebuild orders them by event id', async () => {
    const at = NOW - DAY;
    // Arrival order, event id order and the entries' byte order all differ.
    const event = (eventId: string, itemId: string, timestamp = at): SentEvent => ({
      eventId,
      userId: 'tied',
      itemId,
      type: 'view',
      timestamp,
    });
    await postEvents([event('tie-3', 'a'), event('tie-1', 'c')]);
    await postEvents([event('tie-2', 'b')]);
    expect((await readUserHistory(infra.redis, infra.keys, 'tied')).map((e) => e.itemId)).toEqual([
      'b',
      'c',
      'a',
    ]);
    // A batch reaching back goes in by time; its events of the stored newest time after the stored ones.
    await postEvents([event('tie-5', 'e'), event('tie-0', 'old', at - 1), event('tie-4', 'd')]);

    const { live, rebuilt } = await liveAndRebuilt('tied', LIVE_HISTORY_LENGTH);
    expect(live.map((e) => e.itemId)).toEqual(['d', 'e', 'b', 'c', 'a', 'old']);
    expect(rebuilt.map((e) => e.itemId)).toEqual(['e', 'd', 'a', 'b', 'c', 'old']);
  });

  it('appends a batch newer than the stored history, and merges one that reaches back into it', async () => {
    const at = (k: number) => NOW - DAY + k * 1_000;
    const event = (k: number, itemId: string): SentEvent => ({
      eventId: `merge-${itemId}`,
      userId: 'merging',
      itemId,
      type: 'view',
      timestamp: at(k),
    });
    await postEvents([event(1, 'a'), event(3, 'c')]);
    await postEvents([event(5, 'e')]);
    // b and d fall between what is stored; f is the newest.
    await postEvents([event(6, 'f'), event(2, 'b'), event(4, 'd')]);
    const history = await readUserHistory(infra.redis, infra.keys, 'merging');
    expect(history.map((e) => e.itemId)).toEqual(['f', 'e', 'd', 'c', 'b', 'a']);
    expect(history.map((e) => e.timestampMs)).toEqual([6, 5, 4, 3, 2, 1].map(at));
  });
});
