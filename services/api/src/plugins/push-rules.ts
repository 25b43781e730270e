import type { PushConfig, PushConfigChange } from '@elevens/db';
import type { PushChannel, PushRuleView, PushStatsReason, QuietHoursView } from '@elevens/domain';
import { type PushRule, parseClock, parseWindow, type QuietHours } from '@elevens/push-rules';
import { epochHour, PushStatsNotAdded, pushStatsField } from '@elevens/redis-stores';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { committedCheckPolls, committedCopy } from './committed-copy';
import { pollEvery } from './poll';

declare module 'fastify' {
  interface FastifyInstance {
    pushConfig: ServedPushConfig;
    pushStats: PushStatsRecorder;
  }
}

/** The push config in force in this process, as evaluated. */
export interface PushConfigSnapshot {
  /** the Redis version it was read at; null before any was published */
  version: string | null;
  stored: PushConfig;
  rules: PushRule[];
  /** null when none are set or they are disabled */
  quietHours: QuietHours | null;
}

export interface ServedPushConfig {
  current(): PushConfigSnapshot;
  /** Reads the version now and loads the config when it moved (the poller does this periodically). */
  refresh(): Promise<void>;
  /**
   * Runs `edit` under the config lock (`pushConfigStore.change`) and, unless `unchanged(result)`, copies the config
   * as the change sees it to Redis before the commit and serves it here at once; other processes pick it up at
   * their next poll. A change that fails once its copy may have been written (its commit cut off, Redis's reply
   * lost) has the committed config copied again, at once or, while Postgres is away, at this process's next polls;
   * should this process stop first, the copy's unconfirmed mark has any process's poll do it after a grace
   * (committed-copy.ts): a change that was not stored is not served on.
   */
  change<T>(edit: (change: PushConfigChange) => Promise<T>, unchanged?: (result: T) => boolean): Promise<T>;
}

export interface PushStatsRecorder {
  /** Counts one decision, or the release of an allowed one (`released`, at the decision's instant). */
  count(nowMs: number, channel: PushChannel, campaignId: string, reason: PushStatsReason): void;
  /** Adds the counts gathered since the last flush to Redis, after any flush still in flight. */
  flush(): Promise<void>;
}

export interface PushRulesPluginOptions {
  pollMs: number;
  /** how long an unconfirmed change's mark may stay in the copy (committedCopy's grace, by default its own) */
  unconfirmedGraceMs?: number;
  statsFlushMs: number;
  statsTtlSeconds: number;
}

const toRule = (view: PushRuleView): PushRule => ({
  ruleId: view.ruleId,
  channel: view.channel,
  limit: view.limit,
  windowMs: parseWindow(view.window),
  category: view.category ?? null,
  activeFromMs: view.activeFrom === undefined ? null : Date.parse(view.activeFrom),
  activeUntilMs: view.activeUntil === undefined ? null : Date.parse(view.activeUntil),
  enabled: view.enabled,
});

const toQuietHours = (view: QuietHoursView | null): QuietHours | null =>
  view?.enabled
    ? { startMinute: parseClock(view.start), endMinute: parseClock(view.end), channels: view.channels }
    : null;

const snapshotOf = (version: string | null, stored: PushConfig): PushConfigSnapshot => ({
  version,
  stored,
  rules: stored.rules.map(toRule),
  quietHours: toQuietHours(stored.quietHours),
});

/**
 * Serves the push rules and quiet hours from Redis, never Postgres, on the decision path: polls one small
 * version key (with the marks of changes copied but not yet confirmed) and reloads the config when it moves, so
 * a change applies within `pollMs`. Postgres is read only to seed Redis when it holds no config (new or lost),
 * to copy the stored config again after a change that failed once its copy was written, and to compare the copy
 * with it every 30 s (committed-copy.ts). Also batches decision counters in process and adds them to hourly Redis
 * hashes every `statsFlushMs`, so counting costs a decision no round trip. Reads and writes Redis
 * through `pushLedger` (the cache plugin's), Postgres through `pushConfigStore`.
 */
export const pushRulesPlugin = fp(
  async (app: FastifyInstance, options: PushRulesPluginOptions) => {
    const ledger = app.pushLedger;
    let snapshot = snapshotOf(null, { rules: [], quietHours: null });

    /** Copies `stored` and serves it here; `unconfirmedChange` null: the committed config, under the lock. */
    const copy = async (stored: PushConfig, unconfirmedChange: string | null) => {
      const version = await ledger.publishConfig(JSON.stringify(stored), unconfirmedChange);
      snapshot = snapshotOf(version, stored);
    };
    /** Copies the config as `change` sees it; `unconfirmedChange` null: the committed one, under the lock. */
    const publish = async (change: PushConfigChange, unconfirmedChange: string | null) =>
      copy(await change.load(), unconfirmedChange);
    const publishCommitted = (change: PushConfigChange) => publish(change, null);

    const warn = (what: string) => (error: unknown) => app.log.warn({ err: error }, what);

    const copies = committedCopy<PushConfig>({
      withCommitted: async (wait, use) => {
        const useLoaded = async (change: PushConfigChange) => use(await change.load());
        if (!wait) return app.pushConfigStore.changeIfIdle(useLoaded);
        await app.pushConfigStore.change(useLoaded);
        return true;
      },
      copy: (committed) => copy(committed, null),
      // Every copy is this same serialisation of the loaded config: equal text, equal config.
      copyHolds: async (committed) => (await ledger.readConfig()).configJson === JSON.stringify(committed),
      checkEveryPolls: committedCheckPolls(options.pollMs),
      confirm: (changeId) => ledger.confirmConfig(changeId),
      warn: (error, what) => app.log.warn({ err: error }, `push rules: ${what}`),
      graceMs: options.unconfirmedGraceMs,
    });

    const change = <T>(
      edit: (change: PushConfigChange) => Promise<T>,
      unchanged?: (result: T) => boolean,
    ): Promise<T> =>
      copies.change((copying) =>
        app.pushConfigStore.change(async (configChange) => {
          const result = await edit(configChange);
          if (unchanged?.(result)) return result;
          await publish(configChange, copying());
          return result;
        }),
      );

    const refresh = async () => {
      const { version, unconfirmed } = await ledger.readConfigState();
      // A re-copy serves the committed config here at once.
      if (await copies.repair(unconfirmed)) return;
      if (version === null) {
        await app.pushConfigStore.change(async (change) => {
          if ((await ledger.readConfigVersion()) === null) await publishCommitted(change);
        });
        return;
      }
      if (version === snapshot.version) return;
      const read = await ledger.readConfig();
      if (read.configJson === null) return;
      snapshot = snapshotOf(read.version, JSON.parse(read.configJson) as PushConfig);
    };

    app.decorate('pushConfig', { current: () => snapshot, refresh, change } satisfies ServedPushConfig);

    let pending = new Map<number, Map<string, number>>();
    /** The flush adding counts now: they are out of `pending` and not yet in Redis. */
    let flushing: Promise<void> | null = null;
    const addPending = async () => {
      if (pending.size === 0) return;
      const batch = pending;
      pending = new Map();
      try {
        await ledger.addStats(batch, options.statsTtlSeconds);
      } catch (error) {
        // Keep the counts not added for the next flush rather than lose them while Redis is away; those added
        // (another hour's, on a node still up) are not added twice.
        const kept = error instanceof PushStatsNotAdded ? error.notAdded : batch;
        for (const [hour, fields] of kept) {
          const into = pending.get(hour) ?? new Map<string, number>();
          for (const [field, n] of fields) into.set(field, (into.get(field) ?? 0) + n);
          pending.set(hour, into);
        }
        throw error;
      }
    };
    // A flush answers once the counts of a flush in flight are in Redis too (or kept, when it failed): the stats
    // routes flush before they read.
    const flush = async () => {
      while (flushing) await flushing.catch(() => {});
      flushing = addPending().finally(() => {
        flushing = null;
      });
      return flushing;
    };
    app.decorate('pushStats', {
      count(nowMs, channel, campaignId, reason) {
        const hour = epochHour(nowMs);
        let fields = pending.get(hour);
        if (!fields) {
          fields = new Map();
          pending.set(hour, fields);
        }
        const field = pushStatsField(channel, reason, campaignId);
        fields.set(field, (fields.get(field) ?? 0) + 1);
      },
      flush,
    } satisfies PushStatsRecorder);

    await pollEvery(app, options.pollMs, 'could not read the push rules', refresh);
    const flushTimer = setInterval(() => {
      flush().catch(warn('could not add push decision counts'));
    }, options.statsFlushMs);
    flushTimer.unref();
    app.addHook('onClose', async () => {
      clearInterval(flushTimer);
      await flush().catch(warn('could not add push decision counts'));
    });
  },
  { name: 'elevens-push-rules', dependencies: ['elevens-cache', 'elevens-db'] },
);
