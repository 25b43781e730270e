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
import { committedCopy } from './committed-copy';
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
   * process's next polls: a change that was not stored is not served on.
   */
  change(rules: Pick<BoostRules, 'boosts' | 'pins'>, updatedBy: string | null): Promise<BoostRulesReply>;
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
 * Mirrors the boost rules from Redis like the catalog plugin: one GET of the version key per poll, the rule set
 * re-read only when it changed, so a PUT reaches serving within one poll interval without a restart. When Redis
 * holds no rules yet (new or flushed), the newest Postgres version is mirrored back once at start-up; after a
 * change that failed once its copy may have been written, the committed rules are copied again.
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

    const warn = (what: string) => (error: unknown) => app.log.warn({ err: error }, what);

    const copies = committedCopy(
      () =>
        app.boostRuleStore.publishLatest(async (stored) => {
          await app.boostRulesMirror.write(stored);
        }),
      warn('could not restore the boost rules copy to the stored ones'),
    );

    const refresh = async () => {
      await copies.repair();
      const version = await app.boostRulesMirror.version();
      if (version === null || version === rules.version) return;
      const mirrored = await app.boostRulesMirror.read();
      if (mirrored === null) return;
      const parsed = BoostRulesReplySchema.safeParse(mirrored);
      if (parsed.success) rules = parsed.data;
      else app.log.error({ version }, 'the mirrored boost rules do not parse; keeping the previous ones');
    };

    const change = (changed: Pick<BoostRules, 'boosts' | 'pins'>, updatedBy: string | null) =>
      copies.change((copying) =>
        app.boostRuleStore.append(changed, updatedBy, async (stored) => {
          copying();
          await app.boostRulesMirror.write(stored).catch((error: unknown) => {
            throw unavailable('could not mirror the rules to Redis; nothing was changed', { cause: error });
          });
        }),
      );

    const restoreMirror = async () => {
      if ((await app.boostRulesMirror.version()) !== null) return;
      const stored = await app.boostRuleStore.latest();
      if (stored.version === 0) return;
      // A PUT racing this start-up wins.
      await app.boostRulesMirror.restore(stored);
    };

    app.decorate('boostRules', {
      current: () => rules,
      refresh,
      resolve: (snapshot) => resolveRules(rules, snapshot),
      change,
    });

    await restoreMirror().catch(warn('could not restore the boost rules mirror'));
    await pollEvery(app, options.pollMs, 'could not read the boost rules', refresh);
  },
  { name: 'elevens-boost-rules', dependencies: ['elevens-cache', 'elevens-db'] },
);
