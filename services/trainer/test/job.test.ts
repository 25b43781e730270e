import {
  getModelRun,
  holdModelLine,
  insertEvents,
  listModelRuns,
  putExperiment,
  startModelRun,
  upsertItems,
} from '@elevens/db';
import type { EventType, StoredEvent } from '@elevens/domain';
import {
  createRedis,
  currentModelVersion,
  decodeScored,
  loadModelSnapshot,
  ModelStore,
  type ModelToPublish,
} from '@elevens/redis-stores';
import { createTestInfra, startTcpProxy, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BuildConfig,
  BuildInterrupted,
  type BuildProgress,
  loadBuildConfig,
  loadPostgresEvents,
  ModelLineBusy,
  runBuild,
  UNFINISHED_RUN_MS,
} from '../src';

const HOUR = 3_600_000;
const NEWEST = Date.UTC(2026, 10, 11, 12);

let infra: TestInfra;
let serial = 0;

const event = (
  userId: string,
  itemId: string,
  type: EventType,
  hoursBeforeNewest: number,
  sessionId: string | null = null,
): StoredEvent => ({
  eventId: `e${serial++}`,
  userId,
  itemId,
  type,
  timestampMs: NEWEST - hoursBeforeNewest * HOUR,
  sessionId,
  recommendationId: null,
  quantity: null,
  price: null,
  properties: null,
});

/**
 * Hand-made history (times counted back from the newest event):
 * - u1..u4 view A and B a day ago: A and B are each other's nearest neighbours; u5, u6 view C and D.
 * - u1 carts A and buys B in one session, u2 does the same on another day without a session: bought together.
 * - D is viewed 9 times in the last hour by u7 and u8 and never before: trending (one shopper alone would not
 *   make it trend). Old has 30 views 400 days ago: out of
 *   the 90-day window.
 */
function history(): StoredEvent[] {
  const events: StoredEvent[] = [];
  for (const u of ['u1', 'u2', 'u3', 'u4']) events.push(event(u, 'A', 'view', 24), event(u, 'B', 'view', 23));
  for (const u of ['u5', 'u6']) events.push(event(u, 'C', 'view', 30), event(u, 'D', 'view', 29));
  events.push(event('u1', 'A', 'cart', 20, 's1'), event('u1', 'B', 'purchase', 20, 's1'));
  events.push(event('u2', 'A', 'cart', 50), event('u2', 'B', 'purchase', 50));
  for (let i = 0; i < 9; i++) events.push(event(i % 2 === 0 ? 'u7' : 'u8', 'D', 'view', 0.1 * i));
  for (let i = 0; i < 30; i++) events.push(event(`old${i}`, 'Old', 'view', 400 * 24));
  return events;
}

const config = (overrides: Record<string, string> = {}): BuildConfig =>
  loadBuildConfig({ ...infra.env, BUILD_MIN_SUPPORT: '1', ...overrides });

const build = (cfg: BuildConfig, extra: Partial<Parameters<typeof runBuild>[0]> = {}) =>
  runBuild({ ...infra, log: () => {}, ...extra }, cfg);

const versionsOf = async (line?: string) =>
  (await new ModelStore(infra.redis, infra.keys).line(line).versions()).map((v) => v.version);

async function neighborIds(version: string, itemId: string, key: 'modelNeighbors' | 'modelBoughtTogether') {
  const snapshot = (await loadModelSnapshot(infra.redis, infra.keys, version))!;
  const packed = await infra.redis.hgetBuffer(infra.keys[key](version), itemId);
  return packed ? Array.from(decodeScored(packed).idx, (i) => snapshot.itemIds[i]!) : [];
}

beforeAll(async () => {
  infra = await createTestInfra('build-job');
  await upsertItems(infra.pool, [
    { itemId: 'A', categoryId: 'shoes' },
    { itemId: 'B', categoryId: 'shoes' },
    { itemId: 'C', categoryId: 'hats' },
    { itemId: 'D', categoryId: 'hats' },
  ]);
  await insertEvents(infra.pool, history());
});

afterAll(async () => {
  await infra?.close();
});

describe('runBuild', () => {
  it('publishes neighbours, popular (overall, per category), trending and bought-together, and records the run', async () => {
    const report = await build(config());
    expect(report.status).toBe('published');
    // Old's events lie 400 days before the newest event: outside the default 90-day window.
    expect(report.events).toBe(history().length - 30);
    expect(await currentModelVersion(infra.redis, infra.keys)).toBe(report.version);

    expect((await neighborIds(report.version, 'A', 'modelNeighbors'))[0]).toBe('B');
    expect((await neighborIds(report.version, 'C', 'modelNeighbors'))[0]).toBe('D');
    expect(await neighborIds(report.version, 'A', 'modelBoughtTogether')).toEqual(['B']);
    expect(await neighborIds(report.version, 'C', 'modelBoughtTogether')).toEqual([]);

    const snapshot = (await loadModelSnapshot(infra.redis, infra.keys, report.version))!;
    const ids = (list: { idx: Uint32Array }) => Array.from(list.idx, (i) => snapshot.itemIds[i]!);
    // A shopper counts once per item, by their heaviest event (decayed a little): B: 2·5 (purchases) + 2·1 = 12;
    // A: 2·3 (carts) + 2·1 = 8; D: 4 shoppers' views = 4, u7's and u8's nine fresh views counting as two.
    expect(ids(snapshot.popular).slice(0, 3)).toEqual(['B', 'A', 'D']);
    expect(ids(snapshot.popularByCategory.get('shoes')!)).toEqual(['B', 'A']);
    expect(ids(snapshot.popularByCategory.get('hats')!)).toEqual(['D', 'C']);
    expect(ids(snapshot.trending)).toEqual(['D']);
    // No BUILD_ALGORITHM given: the default.
    expect(snapshot.meta.algorithm).toBe('cosine');

    const run = (await getModelRun(infra.pool, report.version))!;
    expect(run.status).toBe('published');
    expect(run.inputCounts).toMatchObject({ events: report.events, users: 8, items: 4 });
    expect(run.inputCounts.interactions).toBeGreaterThan(0);
    for (const phase of ['read', 'catalog', 'prepare', 'similarity', 'boughtTogether', 'lists', 'publish'])
      expect(run.phaseDurations[phase]).toBeGreaterThanOrEqual(0);
    expect(run.peakRssBytes).toBeGreaterThan(10 * 2 ** 20);
    expect(run.params).toMatchObject({
      algorithm: 'cosine',
      config: { halfLifeDays: 365, maxItemsPerUser: 500 },
    });
  });

  it('applies the window, per-type weights and half-life from the configuration', async () => {
    // A 2-hour window keeps only u7's and u8's fresh views of D (trending hours within it); purchases weighted 0 drop B
    // out of popularity.
    const narrow = await build(
      config({ BUILD_WINDOW: '2h', BUILD_TRENDING_RECENT_HOURS: '1', BUILD_TRENDING_BASELINE_HOURS: '2' }),
    );
    expect(narrow.events).toBe(9);
    expect(narrow.items).toBe(1);

    const noPurchases = await build(
      config({ BUILD_TYPE_WEIGHTS: 'purchase=0,cart=0', BUILD_HALF_LIFE_DAYS: '0.01' }),
    );
    const snapshot = (await loadModelSnapshot(infra.redis, infra.keys, noPurchases.version))!;
    // With a 15-minute half-life only the freshest views count: D first; B has no weighted event left but views.
    expect(snapshot.itemIds[snapshot.popular.idx[0]!]).toBe('D');
    const run = (await getModelRun(infra.pool, noPurchases.version))!;
    expect(run.params).toMatchObject({
      config: { typeWeights: { purchase: 0, cart: 0, view: 1 }, halfLifeDays: 0.01 },
    });
  });

  it.each(['cosine', 'jaccard', 'llr', 'swing', 'als'] as const)(
    'builds with %s end to end',
    async (algorithm) => {
      const report = await build(
        config({ BUILD_ALGORITHM: algorithm, BUILD_ALS_FACTORS: '4', BUILD_ALS_ITERATIONS: '3' }),
      );
      expect(report.status).toBe('published');
      expect(report.algorithm).toBe(algorithm);
      const neighbors = await neighborIds(report.version, 'A', 'modelNeighbors');
      // Swing needs two users sharing two items; A and B are shared by four users, so every algorithm links them.
      expect(neighbors[0]).toBe('B');
    },
  );

  it('does not publish a model the gate rejects, and records the verdict', async () => {
    const before = await currentModelVersion(infra.redis, infra.keys);
    const report = await build(config(), {
      gate: ({ model }) => ({
        pass: false,
        metrics: { items: model.model.itemIds.length },
        reason: 'too small',
      }),
    });
    // The report says why, for the one line `elevens build` prints.
    expect(report).toMatchObject({ status: 'rejected', reason: 'too small' });
    expect(await currentModelVersion(infra.redis, infra.keys)).toBe(before);
    const run = (await getModelRun(infra.pool, report.version))!;
    expect(run).toMatchObject({ status: 'rejected', metrics: { items: 4 }, error: 'too small' });
    const unexplained = await build(config(), { gate: () => ({ pass: false }) });
    expect(unexplained.reason).toBe('rejected by the quality gate');
    expect(await versionsOf()).not.toContain(report.version);
  });

  it('leaves the served model untouched and records a failed run when the build crashes', async () => {
    const served = await currentModelVersion(infra.redis, infra.keys);
    const crashIn = async (when: (p: BuildProgress) => boolean) => {
      const failure = build(config(), {
        onProgress: (p) => {
          if (when(p)) throw new Error(`injected failure at ${JSON.stringify(p)}`);
        },
      });
      await expect(failure).rejects.toThrow(/injected failure/);
    };
    // In the middle of the computation, and in the middle of publishing: neighbours written, nothing switched.
    await crashIn((p) => p.kind === 'phase-start' && p.phase === 'model');
    await crashIn((p) => p.kind === 'publish' && p.part === 'neighbors' && p.written > 0);
    expect(await currentModelVersion(infra.redis, infra.keys)).toBe(served);
    const [publishCrash, modelCrash] = await listModelRuns(infra.pool, 2);
    for (const run of [publishCrash!, modelCrash!]) {
      expect(run.status).toBe('failed');
      expect(run.error).toMatch(/injected failure/);
      expect(run.finishedAt).not.toBeNull();
    }
    expect(publishCrash!.phaseDurations.similarity).toBeGreaterThanOrEqual(0);
    // The half-written version is gone from Redis and was never listed.
    expect(await infra.redis.exists(...infra.keys.modelVersionKeys(publishCrash!.version))).toBe(0);
    expect(await versionsOf()).not.toContain(publishCrash!.version);
    expect(await new ModelStore(infra.redis, infra.keys).lineOf(publishCrash!.version)).toBeNull();
  });

  it('reports no end for a phase that failed, and fails with that phase’s error', async () => {
    const reported: BuildProgress[] = [];
    const failure = build(config(), {
      gate: () => {
        throw new Error('the gate broke');
      },
      onProgress: (p) => {
        reported.push(p);
        if (p.kind === 'phase-end' && p.phase === 'gate') throw new Error('progress broke');
      },
    });
    await expect(failure).rejects.toThrow(/^the gate broke$/);
    expect(reported).toContainEqual({ kind: 'phase-start', phase: 'gate' });
    expect(reported.filter((p) => p.kind === 'phase-end').map((p) => p.phase)).toEqual([
      'read',
      'catalog',
      'prepare',
      'model',
    ]);
    const [run] = await listModelRuns(infra.pool, 1);
    expect(run).toMatchObject({ status: 'failed', error: 'the gate broke' });
    expect(run!.phaseDurations.gate).toBeGreaterThanOrEqual(0);
  });

  it('stops at the next phase, or before its switch, once its signal is aborted, and records why', async () => {
    const store = new ModelStore(infra.redis, infra.keys);
    const line = 'interrupted';
    const interruptWhen = async (when: (p: BuildProgress) => boolean) => {
      const stop = new AbortController();
      const interrupted = build(config({ BUILD_MODEL: line }), {
        signal: stop.signal,
        onProgress: (p) => {
          if (when(p)) stop.abort('SIGTERM');
        },
      });
      await expect(interrupted).rejects.toThrow(BuildInterrupted);
      await expect(interrupted).rejects.toThrow(/^interrupted by SIGTERM$/);
      const [run] = await listModelRuns(infra.pool, 1);
      expect(run).toMatchObject({ status: 'failed', error: 'interrupted by SIGTERM' });
      return run!;
    };
    const afterRead = await interruptWhen((p) => p.kind === 'phase-end' && p.phase === 'read');
    expect(Object.keys(afterRead.phaseDurations)).toEqual(['read']);
    const midPublish = await interruptWhen((p) => p.kind === 'publish' && p.part === 'neighbors');
    expect(midPublish.phaseDurations.publish).toBeGreaterThanOrEqual(0);
    expect(await store.line(line).current()).toBeNull();
    expect(await infra.redis.exists(...infra.keys.modelVersionKeys(midPublish.version, line))).toBe(0);
    expect(await store.lineOf(midPublish.version)).toBeNull();
    // The line is free for the next build.
    const hold = await holdModelLine(infra.pool, infra.keys.modelCurrent(line));
    expect(hold).not.toBeNull();
    await hold!.release();
  });

  it('records a model as published when its switch went through but the answer was lost', async () => {
    const line = 'switch-reply-lost';
    const served = await build(config({ BUILD_MODEL: line }));
    // A connection dropped right after Redis ran the switch: the script's reply never arrives, ioredis resends
    // it, and the build is answered by the second run, refused: the version is published already.
    let resentRefusal: Error | undefined;
    const replyLost = new Proxy(infra.redis, {
      get(redis, property) {
        if (property === 'elevensPublishModel')
          return async (...args: Parameters<typeof redis.elevensPublishModel>) => {
            await redis.elevensPublishModel(...args);
            return redis.elevensPublishModel(...args).catch((error: Error) => {
              resentRefusal = error;
              throw error;
            });
          };
        const value = Reflect.get(redis, property, redis);
        return typeof value === 'function' ? value.bind(redis) : value;
      },
    });
    const report = await build(config({ BUILD_MODEL: line }), { redis: replyLost });
    expect(resentRefusal?.message).toBe(
      `model version ${report.version} was published already (this switch ran before: it was sent again after its reply was lost)`,
    );
    expect(report).toMatchObject({ status: 'published', previousVersion: served.version });
    expect(await new ModelStore(infra.redis, infra.keys).line(line).current()).toBe(report.version);
    expect(await infra.redis.exists(infra.keys.modelMeta(report.version, line))).toBe(1);
    expect(await getModelRun(infra.pool, report.version)).toMatchObject({ status: 'published', error: null });
  });

  it('records a published model as published when deleting old versions fails after the switch', async () => {
    const logged: string[] = [];
    const report = await build(config(), {
      log: (message) => logged.push(message),
      onProgress: (p) => {
        if (p.kind === 'phase-start' && p.phase === 'cleanup') throw new Error('injected failure in cleanup');
      },
    });
    expect(report).toMatchObject({ status: 'published', deletedVersions: [] });
    expect(await currentModelVersion(infra.redis, infra.keys)).toBe(report.version);
    // The next build's quality gate compares with this run's figures: they must be recorded with it.
    const run = (await getModelRun(infra.pool, report.version))!;
    expect(run).toMatchObject({ status: 'published', error: null });
    expect(run.metrics).not.toBeNull();
    expect(logged).toContain('old model versions not deleted');
  });

  it('reads ids holding control characters COPY escapes as stored, for elevens evaluate', async () => {
    // Long before every window the other tests build.
    const atMs = NEWEST - 2000 * 24 * HOUR;
    const itemId = 'bell\b\f\v\\end';
    await insertEvents(infra.pool, [{ ...event('ctl', itemId, 'view', 0), timestampMs: atMs }]);
    const dataset = await loadPostgresEvents(infra.pool, { fromMs: atMs, toMs: atMs });
    expect(dataset.events.map((e) => [e.userId, e.itemId])).toEqual([['ctl', itemId]]);
  });

  it('publishes a named model line beside the default one, versioned on its own', async () => {
    const store = new ModelStore(infra.redis, infra.keys);
    const served = await store.line().current();
    const first = await build(config({ BUILD_MODEL: 'jaccard', BUILD_ALGORITHM: 'jaccard' }));
    const second = await build(config({ BUILD_MODEL: 'jaccard', BUILD_ALGORITHM: 'jaccard' }));
    expect(second).toMatchObject({ status: 'published', model: 'jaccard', previousVersion: first.version });
    expect(await store.line().current()).toBe(served);
    expect(await store.line('jaccard').current()).toBe(second.version);
    expect(await store.lineOf(second.version)).toBe('jaccard');
    expect((await store.line('jaccard').loadSnapshot(second.version))!.meta).toMatchObject({
      line: 'jaccard',
      algorithm: 'jaccard',
    });
    expect((await getModelRun(infra.pool, second.version))!.params).toMatchObject({ model: 'jaccard' });
  });

  it('runs one build of a line at a time: a second one starts nothing, other lines build meanwhile', async () => {
    const line = 'exclusive';
    const store = new ModelStore(infra.redis, infra.keys);
    const runCount = async () =>
      (await infra.pool.query<{ runs: number }>('SELECT count(*) AS runs FROM model_runs')).rows[0]!.runs;
    // A build of the line under way, as another host's would be.
    const running = await holdModelLine(infra.pool, infra.keys.modelCurrent(line));
    expect(running).not.toBeNull();
    try {
      const runsBefore = await runCount();
      const refused = build(config({ BUILD_MODEL: line }));
      await expect(refused).rejects.toThrow(ModelLineBusy);
      await expect(refused).rejects.toThrow(/^another build of model line exclusive is running/);
      expect(await runCount()).toBe(runsBefore);
      expect(await store.line(line).current()).toBeNull();
      expect((await build(config({ BUILD_MODEL: 'exclusive-other' }))).status).toBe('published');
    } finally {
      await running!.release();
    }
    const first = await build(config({ BUILD_MODEL: line }));
    expect(first.status).toBe('published');
    // A build that failed lets the line go too.
    const crash = build(config({ BUILD_MODEL: line }), {
      onProgress: (p) => {
        if (p.kind === 'phase-start' && p.phase === 'model') throw new Error('injected failure');
      },
    });
    await expect(crash).rejects.toThrow('injected failure');
    const second = await build(config({ BUILD_MODEL: line }));
    expect(second).toMatchObject({ status: 'published', previousVersion: first.version });
  });

  it('fails before publishing when its hold on the line ended mid-build, and the line is free again after', async () => {
    const line = 'hold-lost';
    const store = new ModelStore(infra.redis, infra.keys).line(line);
    const served = await build(config({ BUILD_MODEL: line }));
    expect(served.status).toBe('published');
    // What a Postgres restart or a proxy dropping the idle connection does to the hold, between reading and
    // publishing: its session ends. The hold is the only advisory lock in this file's database meanwhile.
    const endHoldSession = async () => {
      const { rows } = await infra.pool.query<{ ended: boolean }>(
        `SELECT pg_terminate_backend(l.pid, 10000) AS ended
         FROM pg_locks l JOIN pg_database d ON d.oid = l.database
         WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()`,
      );
      expect(rows).toEqual([{ ended: true }]);
      return { pass: true };
    };
    const lost = build(config({ BUILD_MODEL: line }), { gate: endHoldSession });
    await expect(lost).rejects.toThrow(
      /^lost its hold on model line hold-lost: its Postgres connection was lost \(.+\); another build of the line may have started, so this one published nothing$/,
    );
    expect(await store.current()).toBe(served.version);
    const [failed] = await listModelRuns(infra.pool, 1);
    expect(failed).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^lost its hold on model line/),
    });
    expect(await versionsOf(line)).toEqual([served.version]);
    const next = await build(config({ BUILD_MODEL: line }));
    expect(next).toMatchObject({ status: 'published', previousVersion: served.version });
  });

  it('never switches the line once it lost its hold after its last check, when another build took the line', async () => {
    const line = 'hold-lost-at-switch';
    const store = new ModelStore(infra.redis, infra.keys).line(line);
    await build(config({ BUILD_MODEL: line }));
    // The stale build's Redis traffic goes through a proxy that keeps its switch (the publish script's call, the
    // only one naming the line's versions and then a version's meta): it has passed every check of its hold by
    // then, as a build paused (swapped out, a stalled network) right there.
    const proxy = await startTcpProxy(infra.redisUrl);
    const staleRedis = createRedis(proxy.url(infra.redisUrl));
    const theSwitch = new RegExp(`model:\\{${line}\\}:versions\r\n\\$\\d+\r\n[^\r]*:meta\r\n`);
    try {
      proxy.hold(theSwitch);
      const stale = build(config({ BUILD_MODEL: line }), { redis: staleRedis });
      const staleOutcome = stale.catch((error: Error) => error);
      await proxy.whenHeld(theSwitch);
      // Meanwhile its hold's session ends (a Postgres restart), and another build takes the line and publishes.
      const { rows } = await infra.pool.query<{ ended: boolean }>(
        `SELECT pg_terminate_backend(l.pid, 10000) AS ended
         FROM pg_locks l JOIN pg_database d ON d.oid = l.database
         WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()`,
      );
      expect(rows).toEqual([{ ended: true }]);
      const successor = await build(config({ BUILD_MODEL: line }));
      expect(successor.status).toBe('published');
      proxy.release();
      const refused = await staleOutcome;
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toMatch(
        /^lost its hold on model line hold-lost-at-switch: its Postgres connection was lost \(.+\); another build of the line may have started, so this one published nothing \(model version \S+ is incomplete and is no longer being published \(a later build of the line freed it/,
      );
      expect(await store.current()).toBe(successor.version);
      const [successorRun, staleRun] = await listModelRuns(infra.pool, 2);
      expect(successorRun).toMatchObject({ version: successor.version, status: 'published' });
      expect(staleRun).toMatchObject({ status: 'failed', error: (refused as Error).message });
      expect(await infra.redis.exists(...infra.keys.modelVersionKeys(staleRun!.version, line))).toBe(0);
      expect(await versionsOf(line)).not.toContain(staleRun!.version);
    } finally {
      proxy.release();
      staleRedis.disconnect();
      await proxy.close();
    }
  });

  it('refuses a line named for another algorithm than the one it builds', () => {
    expect(() => config({ BUILD_MODEL: 'ease', BUILD_ALGORITHM: 'cosine' })).toThrow(/BUILD_MODEL/);
    expect(() => config({ BUILD_MODEL: 'Bad Name' })).toThrow(/BUILD_MODEL/);
    expect(config({ BUILD_MODEL: 'candidate', BUILD_ALGORITHM: 'swing' }).BUILD_MODEL).toBe('candidate');
  });

  it('keeps the versions experiments name when it deletes old ones', async () => {
    const line = 'retention';
    const cfg = config({ BUILD_MODEL: line, BUILD_VERSION_GRACE: '1ms' });
    const pinned = await build(cfg);
    const replaced = await build(cfg);
    const arms = [
      { name: 'control', share: 0.5 },
      { name: 'pinned', share: 0.5, modelVersion: pinned.version },
    ];
    expect((await putExperiment(infra.pool, 'pin', { arms, placement: 'pin' }, null, Date.now())).ok).toBe(
      true,
    );
    await build(cfg);
    const last = await build(cfg);
    // Two steps back, both were due for deletion: the one an experiment names stays.
    expect(last.deletedVersions).toEqual([replaced.version]);
    expect(await versionsOf(line)).toContain(pinned.version);
  });

  it('at a later build, frees the versions of builds killed while publishing and marks old runs failed', async () => {
    const line = 'recovery';
    const store = new ModelStore(infra.redis, infra.keys);
    const switched = await build(config({ BUILD_MODEL: line }));
    // Its build killed between its switch and its record, as it deleted old versions: served, its run running.
    await infra.pool.query("UPDATE model_runs SET status = 'running' WHERE version = $1", [switched.version]);
    /**
     * A build killed while publishing `version` (started `agoMs` ago): its run left running, its version registered
     * and partly written (the item table); nothing recorded its end or deleted its keys.
     */
    const killedWhilePublishing = async (version: string, agoMs: number) => {
      await startModelRun(infra.pool, {
        version,
        algorithm: 'cosine',
        params: { model: line },
        modelLine: line,
        keyPrefix: infra.keys.prefix,
      });
      await infra.pool.query(
        'UPDATE model_runs SET started_at = now() - make_interval(secs => $2) WHERE version = $1',
        [version, agoMs / 1000],
      );
      const noLists = { ptr: new Uint32Array(2), idx: new Uint32Array(0), score: [] };
      const partial: ModelToPublish = {
        version,
        algorithm: 'cosine',
        builtAtMs: Date.now() - agoMs,
        itemIds: ['A'],
        itemCategories: [''],
        neighbors: noLists,
        boughtTogether: noLists,
        popular: { idx: [], score: [] },
        trending: { idx: [], score: [] },
        popularByCategory: new Map(),
      };
      await expect(
        store.line(line).publish(partial, {
          now: () => Date.now() - agoMs,
          onProgress: () => {
            throw new Error('killed');
          },
        }),
      ).rejects.toThrow('killed');
    };
    await killedWhilePublishing('killed-build', UNFINISHED_RUN_MS + 60_000);
    // One started a minute ago: no longer holding the line (the next build takes it), so dead or stale whatever its
    // age (one that lost its hold records its own failure over the mark).
    await killedWhilePublishing('stale-build', 60_000);
    expect(await infra.redis.exists(...infra.keys.modelVersionKeys('killed-build', line))).toBeGreaterThan(0);

    const next = await build(config({ BUILD_MODEL: line }));
    expect(next.deletedVersions).toEqual(['killed-build', 'stale-build']);
    for (const version of ['killed-build', 'stale-build']) {
      expect(await infra.redis.exists(...infra.keys.modelVersionKeys(version, line))).toBe(0);
      expect(await store.lineOf(version)).toBeNull();
    }
    expect(await getModelRun(infra.pool, 'killed-build')).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/did not finish/),
    });
    expect(await getModelRun(infra.pool, 'stale-build')).toMatchObject({
      status: 'failed',
      error: `interrupted: build ${next.version} took the line over; this build had stopped without recording an outcome (killed, out of memory, a deploy) or lost its hold on the line`,
    });
    expect(await getModelRun(infra.pool, switched.version)).toMatchObject({
      status: 'published',
      error: null,
    });
    expect(await getModelRun(infra.pool, next.version)).toMatchObject({ status: 'published' });
    expect(await store.line(line).current()).toBe(next.version);
  });
});
