import type { BuildInput } from '@elevens/algorithms';
import { currentModelVersion, type Redis, type RedisKeys } from '@elevens/cache';
import { type EventWindow, getModelRun, type Pool } from '@elevens/db';
import type { MetricSummary } from '@elevens/evaluation';
import { type ServingSettings, servingSettingsFrom } from '@elevens/recommender';
import type { BuildConfig } from './config';
import { loadPostgresEvents } from './datasets';
import {
  buildEvaluationModel,
  defaultProtocol,
  evaluateModel,
  evaluationSettingsFrom,
  splitDataset,
} from './evaluate';
import type { AssembledModel, ModelSettings } from './model';

/** What a quality gate sees of a candidate model before it may be published. */
export interface BuildGateCandidate {
  version: string;
  /** the events the candidate was built from */
  window: EventWindow;
  model: AssembledModel;
  input: BuildInput;
  settings: ModelSettings;
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
  /** evaluate at most this many holdout users (an even spread of them), bounding the gate's cost */
  maxUsers: number;
  /** below this many holdout users the figure is too noisy to refuse a model on */
  minUsers: number;
  /** the API's settings; default: the RECS_* of the build's own environment, which the api reads too */
  serving?: ServingSettings;
}

export const DEFAULT_GATE_OPTIONS: Readonly<GateOptions> = Object.freeze({
  margin: 0.1,
  force: false,
  maxUsers: 5000,
  minUsers: 50,
});

/** The gate as the build configuration sets it (BUILD_GATE_*). */
export const gateOptionsFrom = (config: BuildConfig): GateOptions => ({
  ...DEFAULT_GATE_OPTIONS,
  margin: config.BUILD_GATE_MARGIN,
  force: config.BUILD_GATE_FORCE,
  maxUsers: config.BUILD_GATE_MAX_USERS,
});

/** The published model's figure the candidate is compared with. */
export interface CurrentFigure {
  version: string;
  ndcg10: number;
}

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
  candidate: Pick<MetricSummary, 'ndcg10' | 'users'>,
  current: CurrentFigure | null,
  options: Pick<GateOptions, 'margin' | 'force' | 'minUsers'>,
): GateDecision {
  if (!(options.margin >= 0 && options.margin <= 1))
    throw new RangeError(`margin must be within [0, 1], got ${options.margin}`);
  if (current === null)
    return { publish: true, forced: false, threshold: null, reason: 'no evaluated model is published' };
  if (candidate.users < options.minUsers)
    return {
      publish: true,
      forced: false,
      threshold: null,
      reason: `only ${candidate.users} holdout users (< ${options.minUsers}): too few to judge`,
    };
  const threshold = (1 - options.margin) * current.ndcg10;
  const figures = `NDCG@10 ${candidate.ndcg10.toFixed(4)} vs ${current.ndcg10.toFixed(4)} of ${current.version}`;
  if (candidate.ndcg10 >= threshold)
    return { publish: true, forced: false, threshold, reason: `${figures}: within the margin` };
  const below = `${figures}: more than ${(options.margin * 100).toFixed(0)}% below`;
  return options.force
    ? { publish: true, forced: true, threshold, reason: `${below}, published because forced` }
    : { publish: false, forced: false, threshold, reason: below };
}

/**
 * The current model's NDCG@10 as recorded when it was built (model_runs.metrics of the served version), or null
 * when nothing is served or the served version was never evaluated.
 */
export async function currentFigure(
  pool: Pool,
  redis: Redis,
  keys: RedisKeys,
): Promise<CurrentFigure | null> {
  const version = await currentModelVersion(redis, keys);
  if (version === null) return null;
  const run = await getModelRun(pool, version);
  const ndcg10 = run?.metrics?.ndcg10;
  const users = run?.metrics?.users;
  return typeof ndcg10 === 'number' && typeof users === 'number' && users > 0 ? { version, ndcg10 } : null;
}

/**
 * The build's quality gate: evaluates the candidate's settings on a holdout of its window's most recent events
 * (temporal leave-last-out, purchases as targets when the window has any; the model is rebuilt without the
 * held-out events, exactly as `elevens evaluate` does, and ranked by the serving code), then compares NDCG@10
 * with the served model's recorded figure. Both figures go into model_runs.metrics either way.
 */
export function createQualityGate(
  deps: { pool: Pool; redis: Redis; keys: RedisKeys },
  config: BuildConfig,
  options: Partial<GateOptions> = {},
): BuildGate {
  const opts: GateOptions = { ...gateOptionsFrom(config), ...options };
  return async (candidate) => {
    const dataset = await loadPostgresEvents(deps.pool, candidate.window);
    const split = splitDataset(dataset.events, defaultProtocol(dataset, 'auto'));
    const stride = Math.max(1, Math.ceil(split.cases.length / opts.maxUsers));
    const cases = split.cases.filter((_, i) => i % stride === 0);
    const serving = opts.serving ?? servingSettingsFrom(config);
    const settings = { ...evaluationSettingsFrom(config, serving), model: candidate.settings };
    const model = buildEvaluationModel(split.train, dataset.itemCategories, settings);
    const result = evaluateModel(model, { train: split.train, cases }, settings.serving);
    const current = await currentFigure(deps.pool, deps.redis, deps.keys);
    const decision = decideGate(result.model, current, opts);
    return {
      pass: decision.publish,
      reason: decision.reason,
      metrics: {
        ...result.model,
        popularityHr10: result.popularity.hr10,
        popularityNdcg10: result.popularity.ndcg10,
        currentVersion: current?.version ?? null,
        currentNdcg10: current?.ndcg10 ?? null,
        margin: opts.margin,
        threshold: decision.threshold,
        forced: decision.forced,
        gate: decision.reason,
      },
    };
  };
}
