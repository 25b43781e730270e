import { type CatalogEntry, EMPTY_BOOST_RULES } from '@elevens/db';
import {
  type BoostRules,
  type BoostRulesReply,
  BoostRulesReply as BoostRulesReplySchema,
  type UnservableRuleItem,
} from '@elevens/domain';
import { unavailable } from '@elevens/http';
import { type ActiveRules, activeRules, type NewItems } from '@elevens/recommender';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { ServedCatalog } from './catalog';
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
   * The rules in force now, resolved against the snapshot's items and, for pins of items it does not hold, the
   * catalog's (`catalog.followed`), with the rule set version and until when they hold (answer caches need both);
   * recomputed at most once per poll for each model version served, and when the catalog version moves.
   */
  resolve(snapshot: ServedSnapshot): ResolvedBoostRules;
  /**
   * `rules` with `unservableItems` when any item they name cannot be served (`unservableItemsOf`: blocked or
   * unavailable, or held by neither the catalog nor the served model), so the marketer saving them is told.
   */
  withUnservable(rules: BoostRulesReply): Promise<BoostRulesReply>;
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

/** The catalog as resolving pins of items a model does not hold reads it. */
export type ResolvingCatalog = Pick<ServedCatalog, 'followed' | 'isServable' | 'version'>;

/**
 * The items rules name that cannot be served, in the order first named, each with why: blocked or unavailable in
 * the catalog (`catalog`, its rows of the items named), or held by neither the catalog nor the served model (an
 * item with events but never put is served from the model).
 */
export function unservableItemsOf(
  rules: Pick<BoostRulesReply, 'boosts' | 'pins'>,
  catalog: readonly CatalogEntry[],
  model: Pick<ServedSnapshot, 'itemIndex'> | null,
): UnservableRuleItem[] {
  const entries = new Map(catalog.map((entry) => [entry.itemId, entry]));
  const unservable = new Map<string, UnservableRuleItem['reason']>();
  for (const itemId of namedItemIds(rules)) {
    const reason = reasonUnservable(entries.get(itemId), model?.itemIndex.has(itemId) ?? false);
    if (reason !== undefined) unservable.set(itemId, reason);
  }
  return [...unservable].map(([itemId, reason]) => ({ itemId, reason }));
}

function reasonUnservable(
  entry: CatalogEntry | undefined,
  inModel: boolean,
): UnservableRuleItem['reason'] | undefined {
  if (entry === undefined) return inModel ? undefined : 'not_in_catalog';
  if (entry.blocked) return 'blocked';
  return entry.available ? undefined : 'unavailable';
}

/** The items the boosts and pins name, each once, in the order first named. */
function namedItemIds(rules: Pick<BoostRulesReply, 'boosts' | 'pins'>): string[] {
  const itemIds = new Set<string>();
  for (const boost of rules.boosts) if (boost.itemId !== undefined) itemIds.add(boost.itemId);
  for (const pin of rules.pins) itemIds.add(pin.itemId);
  return [...itemIds];
}

/**
 * Model versions whose resolved rules are kept at once: the versions served together (the default line's, and
 * those experiment arms name) are a handful; past this the one resolved longest ago is let go.
 */
const RESOLVED_VERSIONS = 16;

/**
 * Resolves rule sets against model versions, keeping one resolution per version (experiment arms on different
 * versions alternate request by request): redone when the rule set changes (a new object) or the catalog's
 * version moves, at the first window edge after it was made, and once `maxAgeMs` old (which keeps the versions in
 * use last in the map). A pin of an item a version does not hold is resolved against `catalog`: kept while the
 * catalog holds the item (followed) and may serve it.
 */
export function boostRulesResolver(maxAgeMs: number, now: () => number) {
  let resolvedOf: BoostRulesReply | null = null;
  let resolvedAtCatalog = '';
  // In the order resolved: a version in use is resolved again every `maxAgeMs`, which moves it last, so the first
  // is one not used for longest (near enough, without reordering on every request).
  const byVersion = new Map<string, { atMs: number; resolved: ResolvedBoostRules }>();
  return (
    rules: BoostRulesReply,
    snapshot: Pick<ServedSnapshot, 'version' | 'itemIndex'>,
    catalog?: ResolvingCatalog,
  ) => {
    const nowMs = now();
    const catalogVersion = catalog?.version() ?? '';
    if (rules !== resolvedOf || catalogVersion !== resolvedAtCatalog) {
      resolvedOf = rules;
      resolvedAtCatalog = catalogVersion;
      byVersion.clear();
    }
    let kept = byVersion.get(snapshot.version);
    // A window opening or closing makes a resolution stale at that very instant, not up to `maxAgeMs` later.
    if (kept !== undefined && nowMs - kept.atMs < maxAgeMs && nowMs < kept.resolved.changesAtMs)
      return kept.resolved;
    kept = {
      atMs: nowMs,
      resolved: {
        active: activeRules(rules, snapshot, nowMs, catalog && newItemsOf(catalog)),
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

/** The servable items `catalog` follows, for pins of items a model does not hold. */
const newItemsOf = (catalog: ResolvingCatalog): NewItems => ({
  categoryOf: (itemId) => (catalog.isServable(itemId) ? catalog.followed(itemId)?.category : undefined),
});

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
      /** how long an unconfirmed change's mark may stay in the copy (committedCopy's grace, by default its own) */
      unconfirmedGraceMs?: number;
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
      graceMs: options.unconfirmedGraceMs,
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
      if (parsed.success) {
        // The catalog rows of the pinned items first, so a pin of an item put since the build is served at once.
        await app.catalog.follow(parsed.data.pins.map((pin) => pin.itemId));
        rules = parsed.data;
      } else
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
      resolve: (snapshot) => resolveRules(rules, snapshot, app.catalog),
      change,
      withUnservable: async (stored) => {
        const catalog = await app.catalogItems.lookup(namedItemIds(stored));
        const unservable = unservableItemsOf(stored, catalog, app.model.current());
        return unservable.length === 0 ? stored : { ...stored, unservableItems: unservable };
      },
    });

    await pollEvery(app, options.pollMs, 'could not read the boost rules', refresh);
  },
  {
    name: 'elevens-boost-rules',
    dependencies: ['elevens-cache', 'elevens-db', 'elevens-model', 'elevens-catalog'],
  },
);
