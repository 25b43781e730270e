import { Worker } from 'node:worker_threads';
import { getModelRun, insertEvents } from '@elevens/db';
import type { StoredEvent } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBuildConfig, runBuild } from '../src';
import { startPeakRss } from '../src/peak-rss';

const MIB = 2 ** 20;
/** What a big build holds for a while and then frees. */
const BIG = 240 * MIB;

/**
 * Holds `bytes` resident on a thread of this process, then frees them: the thread's heap goes with it when it
 * exits, so the memory is returned without waiting for a garbage collection.
 */
const holdResidentWhile = (bytes: number) =>
  new Promise<void>((resolve, reject) => {
    const worker = new Worker(`Buffer.alloc(${bytes}, 1)`, { eval: true });
    worker.once('error', reject);
    worker.once('exit', () => resolve());
  });

const processMark = () => process.resourceUsage().maxRSS * 1024;

describe('a build after a bigger one in the same process (elevens build --every)', () => {
  let infra: TestInfra;

  beforeAll(async () => {
    infra = await createTestInfra('build-peak-rss');
    const events: StoredEvent[] = [];
    for (const userId of ['u1', 'u2', 'u3'])
      for (const itemId of ['A', 'B'])
        events.push({
          eventId: `${userId}-${itemId}`,
          userId,
          itemId,
          type: 'view',
          timestampMs: Date.UTC(2026, 10, 11, 12),
          sessionId: null,
          recommendationId: null,
          quantity: null,
          price: null,
          properties: null,
        });
    await insertEvents(infra.pool, events);
  });

  afterAll(async () => {
    await infra?.close();
  });

  it("records its own peak RSS, not the bigger build's", async () => {
    const config = loadBuildConfig({ ...infra.env, BUILD_MIN_SUPPORT: '1' });
    const build = (gate: () => Promise<{ pass: boolean }>) =>
      runBuild({ pool: infra.pool, redis: infra.redis, keys: infra.keys, log: () => {}, gate }, config);
    const big = await build(async () => {
      await holdResidentWhile(BIG);
      return { pass: true };
    });
    const small = await build(async () => ({ pass: true }));

    const bigRun = (await getModelRun(infra.pool, big.version))!;
    const smallRun = (await getModelRun(infra.pool, small.version))!;
    expect(bigRun.peakRssBytes).toBeGreaterThan(BIG);
    expect(smallRun.peakRssBytes).toBe(small.peakRssBytes);
    expect(smallRun.peakRssBytes).toBeLessThan(bigRun.peakRssBytes! - BIG / 2);
    expect(smallRun.peakRssBytes).toBeGreaterThanOrEqual(process.memoryUsage().rss / 2);
  });
});

describe.each([
  ['Linux, the kernel mark reset', '/proc/self'],
  ['no /proc/self/clear_refs', '/nonexistent-proc-self'],
])('startPeakRss (%s)', (_, procSelf) => {
  it('sees a peak during the measure, and not one from before it', async () => {
    const during = startPeakRss(procSelf);
    const rssBefore = process.memoryUsage().rss;
    await holdResidentWhile(BIG);
    during.sample();
    const seen = during.finish();
    expect(during.finish()).toBe(seen);
    // Without the reset, a peak the process saw earlier may hide this one (then the mark does not rise).
    if (procSelf === '/proc/self') expect(seen).toBeGreaterThan(rssBefore + BIG / 2);

    const after = startPeakRss(procSelf);
    const measured = after.finish();
    expect(measured).toBeGreaterThanOrEqual(process.memoryUsage().rss / 2);
    expect(measured).toBeLessThan(Math.max(processMark(), seen) - BIG / 2);
  });
});
