import type { PushConfig, PushConfigChange } from '@elevens/db';
import type { PushChannel, PushReason, PushRuleView, QuietHoursView } from '@elevens/domain';
import { type PushRule, parseClock, parseWindow, type QuietHours } from '@elevens/push-rules';
import { epochHour, pushStatsField } from '@elevens/redis-stores';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
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
   * Copies the config as `change` (inside `pushConfigStore.change`) sees it to Redis and serves it here at once;
   * other processes pick it up at their next poll.
   */
  publish(change: PushConfigChange): Promise<void>;
}

export interface PushStatsRecorder {
  count(nowMs: number, channel: PushChannel, campaignId: string, reason: PushReason): void;
  /** Adds the counts gathered since the last flush to Redis. */
  flush(): Promise<void>;
}

export interface PushRulesPluginOptions {
  pollMs: number;
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
 * version key and reloads the config when it moves, so a change applies within `pollMs`. Postgres is read
 * only to seed Redis when it holds no config yet. Also batches decision counters in process and adds them to
 * hourly Redis hashes every `statsFlushMs`, so counting costs a decision no round trip. Reads and writes Redis
 * through `pushLedger` (the cache plugin's), Postgres through `pushConfigStore`.
 */
export const pushRulesPlugin = fp(
  async (app: FastifyInstance, options: PushRulesPluginOptions) => {
    const ledger = app.pushLedger;
    let snapshot = snapshotOf(null, { rules: [], quietHours: null });

    const publish = async (change: PushConfigChange) => {
      const stored = await change.load();
      const version = await ledger.publishConfig(JSON.stringify(stored));
      snapshot = snapshotOf(String(version), stored);
    };

    const refresh = async () => {
      const version = await ledger.readConfigVersion();
      if (version === null) {
        await app.pushConfigStore.change(async (change) => {
          if ((await ledger.readConfigVersion()) === null) await publish(change);
        });
        return;
      }
      if (version === snapshot.version) return;
      const read = await ledger.readConfig();
      if (read.configJson === null) return;
      snapshot = snapshotOf(read.version, JSON.parse(read.configJson) as PushConfig);
    };

    app.decorate('pushConfig', { current: () => snapshot, refresh, publish } satisfies ServedPushConfig);

    let pending = new Map<number, Map<string, number>>();
    const flush = async () => {
      if (pending.size === 0) return;
      const batch = pending;
      pending = new Map();
      try {
        await ledger.addStats(batch, options.statsTtlSeconds);
      } catch (error) {
        // Keep the counts for the next flush rather than lose them while Redis is away.
        for (const [hour, fields] of batch) {
          const into = pending.get(hour) ?? new Map<string, number>();
          for (const [field, n] of fields) into.set(field, (into.get(field) ?? 0) + n);
          pending.set(hour, into);
        }
        throw error;
      }
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

    const warn = (what: string) => (error: unknown) => app.log.warn({ err: error }, what);
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
