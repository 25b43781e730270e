import { getModelRun, insertEvents } from '@elevens/db';
import type { EventType, StoredEvent } from '@elevens/domain';
import { loadModelSnapshot } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBuildConfig, runBuild } from '../src';

const HOUR = 3_600_000;
const NOW = Date.now();

let infra: TestInfra;
let serial = 0;

const event = (userId: string, itemId: string, type: EventType, atMs: number): StoredEvent => ({
  eventId: `c${serial++}`,
  userId,
  itemId,
  type,
  timestampMs: atMs,
  sessionId: null,
  recommendationId: null,
  quantity: null,
  price: null,
  properties: null,
});

beforeAll(async () => {
  infra = await createTestInfra('build-clock');
  const events: StoredEvent[] = [];
  for (const u of ['u1', 'u2', 'u3', 'u4']) events.push(event(u, 'A', 'view', NOW - 30 * HOUR));
  // D is viewed again and again in the last hour, by two shoppers: trending.
  for (let i = 0; i < 9; i++) events.push(event(`u${7 + (i % 2)}`, 'D', 'view', NOW - (i + 1) * 5 * 60_000));
  // A client whose clock runs 20 hours ahead: ingest takes event times up to a day ahead.
  events.push(event('skewed', 'X', 'view', NOW + 20 * HOUR));
  await insertEvents(infra.pool, events);
});

afterAll(async () => {
  await infra?.close();
});

describe('runBuild and the clock', () => {
  it('does not count "now" from an event stamped ahead of the clock', async () => {
    const report = await runBuild(
      { ...infra, log: () => {} },
      loadBuildConfig({ ...infra.env, BUILD_MIN_SUPPORT: '1' }),
    );
    expect(report.status).toBe('published');
    const snapshot = (await loadModelSnapshot(infra.redis, infra.keys, report.version))!;
    expect(Array.from(snapshot.trending.idx, (i) => snapshot.itemIds[i])).toEqual(['D']);
    expect(Number(snapshot.meta.windowTo)).toBeLessThanOrEqual(Date.now());
    expect((await getModelRun(infra.pool, report.version))!.status).toBe('published');
  });
});
