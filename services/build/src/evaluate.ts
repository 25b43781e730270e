import {
  type BuildInputOptions,
  EVENT_TYPE_CODES,
  InteractionsBuilder,
  neighborsOf,
  sortedNumbering,
} from '@elevens/algorithms';
import {
  type EvalCase,
  type EvalSplit,
  MetricAccumulator,
  type MetricSummary,
  nextEventSplit,
  temporalLeaveLastOut,
} from '@elevens/evaluation';
import {
  type HistoryEvent,
  type ModelView,
  recommend,
  type ScoredList,
  type ServingSettings,
  weighUserHistory,
} from '@elevens/recommender';
import type { BuildConfig } from './config';
import type { Dataset, DatasetEvent } from './datasets';
import { type AssembledModel, assembleModel, type ModelSettings } from './model';
import { builderOptionsFrom, modelSettingsFrom } from './settings';

/** How the build turns events into interactions: the InteractionsBuilder options but "now", which is the data's. */
export type InteractionSettings = Omit<BuildInputOptions, 'referenceTimeMs'>;

export interface EvaluationSettings {
  interactions: InteractionSettings;
  model: ModelSettings;
  serving: ServingSettings;
  /** events older than this before the newest train event are left out, as BUILD_WINDOW does in the build */
  windowMs: number;
}

export type EvaluationProtocol =
  | { kind: 'leave-last-out'; minDistinctItems: number; targetType?: string }
  | { kind: 'next-event'; minEvents: number };

/** Cutoff at 20: Recall@20 needs the top 20, the other metrics read the top 10. */
const RANKED = 20;

export function splitDataset(events: readonly DatasetEvent[], protocol: EvaluationProtocol) {
  return protocol.kind === 'leave-last-out'
    ? temporalLeaveLastOut(events, {
        minDistinctItems: protocol.minDistinctItems,
        ...(protocol.targetType === undefined ? {} : { targetType: protocol.targetType }),
      })
    : nextEventSplit(events, { minEvents: protocol.minEvents });
}

export interface EvaluationModel {
  assembled: AssembledModel;
  view: ModelView;
  /** number of distinct train users per item index, for the popularity baseline */
  itemUsers: Uint32Array;
}

const TYPE_CODE = new Map<string, number>(EVENT_TYPE_CODES.map((t, i) => [t, i]));

/**
 * The model `elevens build` would publish if the train events were all it had: the same InteractionsBuilder
 * and `assembleModel`, "now" being the newest train event. Ids are numbered in sorted order, as in the build.
 */
export function buildEvaluationModel(
  train: readonly DatasetEvent[],
  itemCategories: ReadonlyMap<string, string>,
  settings: Pick<EvaluationSettings, 'interactions' | 'model' | 'windowMs'>,
): EvaluationModel {
  let referenceTimeMs = Number.NEGATIVE_INFINITY;
  for (const e of train) if (e.timestamp > referenceTimeMs) referenceTimeMs = e.timestamp;
  if (train.length === 0) referenceTimeMs = 0;
  const fromMs = referenceTimeMs - settings.windowMs;
  const builder = new InteractionsBuilder({ ...settings.interactions, referenceTimeMs }, train.length);
  const users = new Map<string, number>();
  const items = new Map<string, number>();
  const sessions = new Map<string, number>();
  const dense = (index: Map<string, number>, id: string) => {
    let i = index.get(id);
    if (i === undefined) {
      i = index.size;
      index.set(id, i);
    }
    return i;
  };
  const pairs = new Set<string>();
  for (const e of train) {
    const type = TYPE_CODE.get(e.type);
    // The build reads the window [newest − BUILD_WINDOW, newest], ends included.
    if (type === undefined || e.timestamp < fromMs) continue;
    const user = dense(users, e.userId);
    const item = dense(items, e.itemId);
    const session = e.sessionId === undefined ? -1 : dense(sessions, e.sessionId);
    builder.add(user, item, type, e.timestamp, session);
    pairs.add(`${user}:${item}`);
  }
  const itemNumbering = sortedNumbering([...items.keys()]);
  builder.renumber(sortedNumbering([...users.keys()]).index, itemNumbering.index);
  const itemIds = itemNumbering.ids;
  const itemIndex = new Map(itemIds.map((id, i) => [id, i]));
  const itemUsers = new Uint32Array(itemIds.length);
  for (const pair of pairs) itemUsers[itemNumbering.index[Number(pair.slice(pair.indexOf(':') + 1))]!]! += 1;
  const categories = itemIds.map((id) => itemCategories.get(id) ?? '');
  const input = builder.build(users.size, items.size);
  const assembled = assembleModel(input, itemIds, categories, settings.model, 'evaluation', referenceTimeMs);
  const { model } = assembled;
  const view: ModelView = {
    itemIds,
    itemIndex,
    itemCategories: categories,
    popular: model.popular,
    trending: model.trending,
    popularByCategory: model.popularByCategory,
  };
  return { assembled, view, itemUsers };
}

/** One user's live state at the cutoff, as Redis would hold it: newest history first, purchases ever made. */
function liveStateAt(evalCase: EvalCase<DatasetEvent>, historyLength: number) {
  const history: HistoryEvent[] = [];
  for (let i = evalCase.history.length - 1; i >= 0 && history.length < historyLength; i--) {
    const e = evalCase.history[i]!;
    history.push({ type: e.type, itemId: e.itemId, timestampMs: e.timestamp });
  }
  const purchased = new Set<string>();
  for (const e of evalCase.history) if (e.type === 'purchase') purchased.add(e.itemId);
  return { history, purchased };
}

const ALWAYS_SERVABLE = () => true;
const NOTHING = new Set<string>();

/**
 * The top items `/v1/recommendations` (home context, no rules) answers for this user at the cutoff: the
 * recommender's own `weighUserHistory` picks which neighbour lists to read, exactly as the API does, and
 * `recommend` does the rest (history weighting, exclusions, fallbacks).
 */
export function servedRanking(
  model: EvaluationModel,
  evalCase: EvalCase<DatasetEvent>,
  serving: ServingSettings,
  count = RANKED,
): string[] {
  const { history, purchased } = liveStateAt(evalCase, serving.historyLength);
  const historyWeights = weighUserHistory(history, serving);
  const neighbors = new Map<string, ScoredList>();
  for (const itemId of historyWeights.keys()) {
    const idx = model.view.itemIndex.get(itemId);
    if (idx === undefined) continue;
    const list = neighborsOf(model.assembled.neighbors, idx);
    // Redis stores neighbour scores as float32; rounding the same way keeps ties and order as served.
    if (list.idx.length > 0) neighbors.set(itemId, { idx: list.idx, score: Float32Array.from(list.score) });
  }
  const result = recommend({
    model: model.view,
    historyWeights,
    neighbors,
    purchased,
    exclude: NOTHING,
    isServable: ALWAYS_SERVABLE,
    limit: count,
    offset: 0,
    settings: serving,
  });
  return result.items.map((item) => item.itemId);
}

/**
 * The popularity baseline: items by number of distinct train users, best first, without the items the user
 * already has in train (a baseline that re-recommends them would be a straw man).
 */
export function popularityRanking(
  model: EvaluationModel,
  order: Uint32Array,
  evalCase: EvalCase<DatasetEvent>,
  count = RANKED,
): string[] {
  const seen = new Set(evalCase.history.map((e) => e.itemId));
  const ranked: string[] = [];
  for (let k = 0; k < order.length && ranked.length < count; k++) {
    const itemId = model.view.itemIds[order[k]!]!;
    if (!seen.has(itemId)) ranked.push(itemId);
  }
  return ranked;
}

export function popularityOrder(itemUsers: Uint32Array): Uint32Array {
  const order = Uint32Array.from(itemUsers, (_, i) => i);
  return order.sort((a, b) => itemUsers[b]! - itemUsers[a]! || a - b);
}

export interface EvaluationResult {
  model: MetricSummary;
  popularity: MetricSummary;
  catalogItems: number;
  trainEvents: number;
}

/** Scores a model on the split's cases through the serving path, and the popularity baseline on the same cases. */
export function evaluateModel(
  model: EvaluationModel,
  split: EvalSplit<DatasetEvent>,
  serving: ServingSettings,
): EvaluationResult {
  const catalogItems = model.view.itemIds.length;
  const served = new MetricAccumulator(catalogItems);
  const popular = new MetricAccumulator(catalogItems);
  const order = popularityOrder(model.itemUsers);
  for (const evalCase of split.cases) {
    served.add(servedRanking(model, evalCase, serving), evalCase.target, evalCase.heldOut);
    popular.add(popularityRanking(model, order, evalCase), evalCase.target, evalCase.heldOut);
  }
  return {
    model: served.summary(),
    popularity: popular.summary(),
    catalogItems,
    trainEvents: split.train.length,
  };
}

/** Split, build on the train part, evaluate: what `elevens evaluate` reports for one setting. */
export function evaluateDataset(
  dataset: Dataset,
  protocol: EvaluationProtocol,
  settings: EvaluationSettings,
): EvaluationResult {
  const split = splitDataset(dataset.events, protocol);
  const model = buildEvaluationModel(split.train, dataset.itemCategories, settings);
  return evaluateModel(model, split, settings.serving);
}

/** The protocol the issue asks for: leave-last-out on purchases where the data has any, else on any event. */
export function defaultProtocol(dataset: Dataset, target: 'purchase' | 'any' | 'auto'): EvaluationProtocol {
  const hasPurchases = dataset.events.some((e) => e.type === 'purchase');
  const targetType = target === 'purchase' || (target === 'auto' && hasPurchases) ? 'purchase' : undefined;
  return {
    kind: 'leave-last-out',
    minDistinctItems: 3,
    ...(targetType === undefined ? {} : { targetType }),
  };
}

/** The settings `elevens build` runs with under this configuration, and the given serving settings. */
export function evaluationSettingsFrom(config: BuildConfig, serving: ServingSettings): EvaluationSettings {
  const { referenceTimeMs: _, ...interactions } = builderOptionsFrom(config, 0);
  return { interactions, model: modelSettingsFrom(config), serving, windowMs: config.BUILD_WINDOW };
}
