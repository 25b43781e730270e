import { EMPTY_BOOST_RULES } from '@elevens/db';
import {
  type BoostRules,
  type BoostRulesReply,
  BoostRulesReply as BoostRulesReplySchema,
} from '@elevens/domain';
import { unavailable } from '@elevens/http';
import { type ActiveRules, activeRules } from '@elevens/recommender';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { committedCheckPolls, committedCopy } from './committed-copy';
import type { ServedSnapshot } from './model';
import { pollEvery } from './poll';

declare module 'fastify' {
  interface FastifyInstance {
    boostRules: ServedBoostRules;
  }
}

export interface ServedBoostRules {
  /** The rule set as last read from Redis (version 0 and no rules before the first PUT). */
  current(): BoostRulesReply;
  /**
   * The rules in force now, resolved against the snapshot's items, with the rule set version and until when
   * they hold (answer caches need both); recomputed at most once per poll for each model version served.
   */
  resolve(snapshot: ServedSnapshot): ResolvedBoostRules;
  refresh(): Promise<void>;
  /**
   * Stores `rules` as the next version (`boostRuleStore.append`), copied to Redis before the commit; every process
   * serves it from its next poll. A change that fails once its copy may have been written (its commit cut off,
   * Redis's reply lost) has the committed rules copied again, at once or, while Postgres or Redis is away, at this
   * process's next polls; should this process stop first, the copy's unconfirmed mark has any process's poll do it
   * after a grace (committed-copy.ts): a change that was not stored is not served on. With `ifVersions`, only
   * while the version in force is one of them (else `StaleBoostRulesVersion`, nothing stored).
   */
  change(
    rules: Pick<BoostRules, 'boosts' | 'pins'>,
    updatedBy: string | null,
    ifVersions?: readonly number[],
  ): Promise<BoostRulesReply>;
}

export interface ResolvedBoostRules {
  active: ActiveRules;
  /** version of the rule set resolved */
  version: number;
  /** the first window start or end after the resolution instant (Infinity: none); `active` is stale from then */
  changesAtMs: number;
}

/** The first `from` or `until` of any boost or pin after `nowMs`, or Infinity. */
function nextWindowEdge(rules: Pick<BoostRulesReply, 'boosts' | 'pins'>, nowMs: number): number {
  let next = Number.POSITIVE_INFINITY;
  for (const rule of [...rules.boosts, ...rules.pins])
    for (const edge of [rule.from, rule.until]) {
      const edgeMs = edge === undefined ? Number.NaN : Date.parse(edge);
      if (edgeMs > nowMs && edgeMs < next) next = edgeMs;
    }
  return next;
}

/**
 * Model versions whose resolved rules are kept at once: the versions served together (the default line's, and
 * those experiment arms name) are a handful; past this the one resolved longest ago is let go.
 */
const RESOLVED_VERSIONS = 16;

/**
 * Resolves rule sets against model versions, keeping one resolution per version (experiment arms on different
 * versions alternate request by request): redone when the rule set changes (a new object), at the first window
 * edge after it was made, and once `maxAgeMs` old (which keeps the versions in use last in the map).
 */
export function boostRulesResolver(maxAgeMs: number, now: () => number) {
  let resolvedOf: BoostRulesReply | null = null;
  // In the order resolved: a version in use is resolved again every `maxAgeMs`, which moves it last, so the first
  // is one not used for longest (near enough, without reordering on every request).
  const byVersion = new Map<string, { atMs: number; resolved: ResolvedBoostRules }>();
  return (rules: BoostRulesReply, snapshot: Pick<ServedSnapshot, 'version' | 'itemIndex'>) => {
    const nowMs = now();
    if (rules !== resolvedOf) {
      resolvedOf = rules;
      byVersion.clear();
    }
    let kept = byVersion.get(snapshot.version);
    // A window opening or closing makes a resolution stale at that very instant, not up to `maxAgeMs` later.
    if (kept !== undefined && nowMs - kept.atMs < maxAgeMs && nowMs < kept.resolved.changesAtMs)
      return kept.resolved;
    kept = {
      atMs: nowMs,
      resolved: {
        active: activeRules(rules, snapshot, nowMs),
        version: rules.version,
        changesAtMs: nextWindowEdge(rules, nowMs),
      },
    };
    byVersion.delete(snapshot.version);
    if (byVersion.size >= RESOLVED_VERSIONS) byVersion.delete(byVersion.keys().next().value!);
    byVersion.set(snapshot.version, kept);
    return kept.resolved;
  };
}

/**
 * Mirrors the boost rules from Redis like the catalog plugin: one read of the version key (with the marks of
 * changes copied but not yet confirmed) per poll, the rule set re-read only when it changed, so a PUT reaches
 * serving within one poll interval without a restart. A poll that finds no rules in Redis (new or lost) mirrors the newest Postgres version back (the empty set, version 0, when
 * none is stored); after a change that failed once its copy may have been written, the committed rules are
 * copied again.
 */
export const boostRulesPlugin = fp(
  async (
    app: FastifyInstance,
    options: {
      pollMs: number;
      /** the clock boost and pin windows are resolved at (epoch ms); tests fix it */
      now?: () => number;
    },
  ) => {
    const now = options.now ?? Date.now;
    let rules = EMPTY_BOOST_RULES;
    // Resolutions are redone at each window edge, and every poll interval to keep the versions in use last.
    const resolveRules = boostRulesResolver(options.pollMs, now);

    const mirror = app.boostRulesMirror;
    const copies = committedCopy<BoostRulesReply>({
      withCommitted: async (wait, use) => {
        if (!wait) return app.boostRuleStore.publishLatestIfIdle(use);
        await app.boostRuleStore.publishLatest(use);
        return true;
      },
      copy: (committed) => mirror.writeCommitted(committed),
      // Each stored version is one rule set, never numbered again.
      copyHolds: async (committed) => (await mirror.state()).version === committed.version,
      checkEveryPolls: committedCheckPolls(options.pollMs),
      confirm: (changeId) => mirror.confirm(changeId),
      warn: (error, what) => app.log.warn({ err: error }, `boost rules: ${what}`),
    });

    /** Puts the newest stored rules (or the empty set) where Redis holds none; a change racing it wins (NX). */
    const restoreMirror = async () => {
      const stored = await app.boostRuleStore.latest();
      await mirror.restore(stored);
    };

    const refresh = async () => {
      let state = await mirror.state();
      if (await copies.repair(state.unconfirmed)) state = await mirror.state();
      if (state.version === null) {
        await restoreMirror();
        state = await mirror.state();
      }
      if (state.version === null || state.version === rules.version) return;
      const mirrored = await mirror.read();
      if (mirrored === null) return;
      const parsed = BoostRulesReplySchema.safeParse(mirrored);
      if (parsed.success) rules = parsed.data;
      else
        app.log.error(
          { version: state.version },
          'the mirrored boost rules do not parse; keeping the previous ones',
        );
    };

    const change: ServedBoostRules['change'] = (changed, updatedBy, ifVersions) =>
      copies.change((copying) =>
        app.boostRuleStore.append(
          changed,
          updatedBy,
          async (stored) => {
            await mirror.write(stored, copying()).catch((error: unknown) => {
              throw unavailable('could not mirror the rules to Redis; nothing was changed', { cause: error });
            });
          },
          ifVersions,
        ),
      );

    app.decorate('boostRules', {
      current: () => rules,
      refresh,
      resolve: (snapshot) => resolveRules(rules, snapshot),
      change,
    });

    await pollEvery(app, options.pollMs, 'could not read the boost rules', refresh);
  },
  { name: 'elevens-boost-rules', dependencies: ['elevens-cache', 'elevens-db'] },
);
