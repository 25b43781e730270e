import type { BuildInput, EventColumns } from '@elevens/algorithms';
import { type EventWindow, getModelRun, type Pool } from '@elevens/db';
import type { MetricSummary } from '@elevens/evaluation';
import { type ServingSettings, servingSettingsFrom } from '@elevens/recommender';
import { type ModelLine, ModelStore, type RedisClient, type RedisKeys } from '@elevens/redis-stores';
import type { BuildConfig } from './config';
import { buildHoldoutModel, evaluateCases, evaluateReturnCases, evaluationSettingsFrom } from './evaluate';
import { type GateTarget, gateSplit } from './holdout';
import type { AssembledModel, ModelSettings } from './model';

/** What a quality gate sees of a candidate model before it may be published. */
export interface BuildGateCandidate {
  version: string;
  /** the events the candidate was built from */
  window: EventWindow;
  model: AssembledModel;
  input: BuildInput;
  settings: ModelSettings;
  /** those events as the build read them: users numbered as `userIds`, items as the model's item ids */
  events: EventColumns;
  userIds: readonly string[];
}

/** A gate's decision; `metrics` are recorded in model_runs either way. */
export interface BuildGateResult {
  pass: boolean;
  metrics?: Record<string, unknown>;
  reason?: string;
}

export type BuildGate = (candidate: BuildGateCandidate) => Promise<BuildGateResult> | BuildGateResult;

export interface GateOptions {
  /** refuse a model whose NDCG@10 is below (1 − margin) × the current model's */
  margin: number;
  /** publish whatever the figures say (the verdict still records them) */
  force: boolean;
  /** users the gate scores at most, the same users build after build (`gateSplit`), bounding its cost */
  maxUsers: number;
  /** of them, users scored on a return-to-it case at most: a figure reported, not judged */
  returnUsers: number;
  /** below this many holdout users the figure is too noisy to refuse a model on */
  minUsers: number;
  /**
   * refuse a model built from less than this share of the users, items or events of a served model that was
   * judged (scored on `minUsers` or more): a build pointed at the wrong database, or run after a prune emptied the
   * events table, would otherwise replace it with a model of almost nothing
   */
  minShare: number;
  /** the API's settings; default: the RECS_* of the build's own environment, which the api reads too */
  serving?: ServingSettings;
}

export const DEFAULT_GATE_OPTIONS: Readonly<GateOptions> = Object.freeze({
  margin: 0.1,
  force: false,
  maxUsers: 3000,
  returnUsers: 1000,
  minUsers: 50,
  minShare: 0.5,
});

/** The gate as the build configuration sets it (BUILD_GATE_*). */
export const gateOptionsFrom = (config: BuildConfig): GateOptions => ({
  ...DEFAULT_GATE_OPTIONS,
  margin: config.BUILD_GATE_MARGIN,
  force: config.BUILD_GATE_FORCE,
  maxUsers: config.BUILD_GATE_MAX_USERS,
});

/** What a model was built from: the users, items and events its build read. */
export interface BuildSize {
  users: number;
  items: number;
  events: number;
}

/** The published model's figure the candidate is compared with. */
export interface CurrentFigure {
  version: string;
  ndcg10: number;
  /** holdout users it was scored on */
  users: number;
  /** the target it was scored on; null for a run recorded before the gate named its target */
  target: string | null;
  /** what it was built from (model_runs.input_counts); null when its run did not record it */
  size: BuildSize | null;
}

/** The candidate's holdout figure. */
export interface CandidateFigure extends Pick<MetricSummary, 'ndcg10' | 'users'> {
  ndcg10StdErr: number;
  target: GateTarget;
  size: BuildSize;
}

const describeSize = (size: BuildSize) => `${size.users} users, ${size.items} items, ${size.events} events`;

export interface GateDecision {
  publish: boolean;
  /** published only because of force */
  forced: boolean;
  /** the lowest NDCG@10 that passes, when there is a figure to compare with */
  threshold: number | null;
  reason: string;
}

/** Pure: whether a candidate with this holdout figure may replace the current model. */
export function decideGate(
  candidate: CandidateFigure,
  current: CurrentFigure | null,
  options: Pick<GateOptions, 'margin' | 'force' | 'minUsers' | 'minShare'>,
): GateDecision {
  if (!(options.margin >= 0 && options.margin <= 1))
    throw new RangeError(`margin must be within [0, 1], got ${options.margin}`);
  if (!(options.minShare >= 0 && options.minShare <= 1))
    throw new RangeError(`minShare must be within [0, 1], got ${options.minShare}`);
  const figure = `NDCG@10 ${candidate.ndcg10.toFixed(4)} ± ${candidate.ndcg10StdErr.toFixed(4)} (${candidate.users} users)`;
  // The first build of a new or empty shop publishes: there is nothing better to serve.
  if (current === null)
    return {
      publish: true,
      forced: false,
      threshold: null,
      reason: `${figure}; no evaluated model is published`,
    };
  // Checked before the figures: a model of almost nothing has too few users to judge, and would publish unjudged.
  const shrunk = current.users >= options.minUsers && current.size !== null ? current.size : null;
  if (shrunk !== null) {
    const measures = (['users', 'items', 'events'] as const).filter(
      (measure) => candidate.size[measure] < options.minShare * shrunk[measure],
    );
    if (measures.length > 0) {
      const refused = `${figure}, built from ${describeSize(candidate.size)}, against ${describeSize(shrunk)} of ${current.version}: less than ${(options.minShare * 100).toFixed(0)}% of its ${measures.join(', ')} (a wrong database? events pruned?)`;
      return options.force
        ? { publish: true, forced: true, threshold: null, reason: `${refused}, published because forced` }
        : {
            publish: false,
            forced: false,
            threshold: null,
            reason: `${refused}; --force (BUILD_GATE_FORCE=true) publishes it`,
          };
    }
  }
  if (candidate.users < options.minUsers)
    return {
      publish: true,
      forced: false,
      threshold: null,
      reason: `${figure}: fewer than ${options.minUsers} holdout users, too few to judge`,
    };
  // Nor against a figure as noisy: a lucky one from a young shop's few users would refuse every build after it.
  if (current.users < options.minUsers)
    return {
      publish: true,
      forced: false,
      threshold: null,
      reason: `${figure}; ${current.version} was scored on ${current.users} users, fewer than ${options.minUsers}, too few to compare with`,
    };
  // Figures on different targets measure different things; this one becomes the next build's reference.
  if (current.target !== candidate.target)
    return {
      publish: true,
      forced: false,
      threshold: null,
      reason: `${figure} on ${candidate.target} targets; ${current.version} was scored on ${current.target ?? 'unnamed'} targets, not comparable`,
    };
  const threshold = (1 - options.margin) * current.ndcg10;
  const figures = `${figure} vs ${current.ndcg10.toFixed(4)} of ${current.version}`;
  if (candidate.ndcg10 >= threshold)
    return { publish: true, forced: false, threshold, reason: `${figures}: within the margin` };
  const below = `${figures}: more than ${(options.margin * 100).toFixed(0)}% below`;
  return options.force
    ? { publish: true, forced: true, threshold, reason: `${below}, published because forced` }
    : { publish: false, forced: false, threshold, reason: below };
}

/**
 * The current model's NDCG@10 and target in `line` as recorded when it was built (model_runs.metrics of the
 * served version), or null when nothing is served or the served version was never evaluated.
 */
export async function currentFigure(pool: Pool, line: ModelLine): Promise<CurrentFigure | null> {
  const version = await line.current();
  if (version === null) return null;
  const run = await getModelRun(pool, version);
  const ndcg10 = run?.metrics?.ndcg10;
  const users = run?.metrics?.users;
  const target = run?.metrics?.target;
  const counts = run?.inputCounts;
  const size =
    typeof counts?.users === 'number' && typeof counts.items === 'number' && typeof counts.events === 'number'
      ? { users: counts.users, items: counts.items, events: counts.events }
      : null;
  return typeof ndcg10 === 'number' && typeof users === 'number' && users > 0
    ? { version, ndcg10, users, target: typeof target === 'string' ? target : null, size }
    : null;
}

/** Users with at least this many distinct items have a leave-last-out case, as in `elevens evaluate`. */
const MIN_DISTINCT_ITEMS = 3;

/**
 * The build's quality gate, on the events the build already read: chooses a target it can score
 * (`chooseGateTarget`), samples up to `maxUsers` users with such a case and, of them, up to `returnUsers` with a
 * return-to-it case (`gateSplit`), takes the candidate without those users' held-out events
 * (`buildHoldoutModel`), ranks every sampled user through the serving code, and compares NDCG@10 with the served
 * model's recorded figure. The figures, the target and why, and the return-to-it figures go into
 * model_runs.metrics either way.
 */
export function createQualityGate(
  deps: { pool: Pool; redis: RedisClient; keys: RedisKeys },
  config: BuildConfig,
  options: Partial<GateOptions> = {},
): BuildGate {
  const opts: GateOptions = { ...gateOptionsFrom(config), ...options };
  const line = new ModelStore(deps.redis, deps.keys).line(config.BUILD_MODEL);
  return async (candidate) => {
    const { itemIds, itemCategories } = candidate.model.model;
    const ids = { userIds: candidate.userIds, itemIds, itemCategories };
    const split = gateSplit(candidate.events, ids, {
      sampleUsers: opts.maxUsers,
      returnUsers: opts.returnUsers,
      minDistinctItems: MIN_DISTINCT_ITEMS,
      seed: config.BUILD_SEED,
    });
    const serving = opts.serving ?? servingSettingsFrom(config);
    const settings = { ...evaluationSettingsFrom(config, serving), model: candidate.settings };
    // The build's "now" is its window's end, the newest event.
    const model = buildHoldoutModel(
      { input: candidate.input, referenceTimeMs: candidate.window.toMs },
      candidate.events,
      split,
      ids,
      settings,
    );
    const scores = evaluateCases(model, split.cases, serving);
    const returnTo = evaluateReturnCases(model, split.returnCases, serving);
    // A named line is judged against its own served model, not the default line's.
    const current = await currentFigure(deps.pool, line);
    const { protocol } = split;
    // The counts the build records in model_runs.input_counts, which the next build compares with.
    const size = {
      users: candidate.userIds.length,
      items: itemIds.length,
      events: candidate.events.users.length,
    };
    const decision = decideGate(
      { ...scores.model, ndcg10StdErr: scores.ndcg10StdErr, target: protocol.target, size },
      current,
      opts,
    );
    const reason = `${decision.reason}. Target: ${protocol.reason}`;
    return {
      pass: decision.publish,
      reason,
      metrics: {
        ...scores.model,
        ndcg10StdErr: scores.ndcg10StdErr,
        examinedUsers: split.examinedUsers,
        target: protocol.target,
        targetReason: protocol.reason,
        purchaseTargets: protocol.purchaseTargets,
        newPurchaseTargets: protocol.newPurchaseTargets,
        popularityHr10: scores.popularity.hr10,
        popularityNdcg10: scores.popularity.ndcg10,
        returnUsers: returnTo.model.users,
        returnHr10: returnTo.model.hr10,
        returnNdcg10: returnTo.model.ndcg10,
        returnNdcg10StdErr: returnTo.ndcg10StdErr,
        recentlySeenHr10: returnTo.recentlySeen.hr10,
        recentlySeenNdcg10: returnTo.recentlySeen.ndcg10,
        currentVersion: current?.version ?? null,
        currentNdcg10: current?.ndcg10 ?? null,
        margin: opts.margin,
        threshold: decision.threshold,
        forced: decision.forced,
        gate: reason,
      },
    };
  };
}
