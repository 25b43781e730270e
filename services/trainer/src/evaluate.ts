import {
  type BuildInput,
  type BuildInputOptions,
  EVENT_TYPE_CODES,
  type EventColumns,
  type Interactions,
  InteractionsBuilder,
  neighborsOf,
  sortedNumbering,
} from '@elevens/algorithms';
import {
  type EvalCase,
  type EvalSplit,
  MetricAccumulator,
  type MetricSummary,
  ndcgAtK,
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
import type { GateSplit } from './holdout';
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
  return { assembled, view: modelViewOf(assembled, itemIndex), itemUsers };
}

/** No baskets: a home-context ranking never reads bought-together lists, so the holdout model skips them. */
const NO_BASKETS = { ptr: new Uint32Array(1), itemIdx: new Uint32Array(0), users: new Uint32Array(0) };
const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 24 * MS_PER_HOUR;
const CART = EVENT_TYPE_CODES.indexOf('cart');
const PURCHASE = EVENT_TYPE_CODES.indexOf('purchase');

/**
 * The quality gate's model: the candidate's build input without the held-out events, then `assembleModel` as the
 * build runs it (bought-together lists left out: a home-context ranking never reads them). Only the users in
 * `split.changed` lost events, so only their rows of the user × item matrix are weighed again, from the events
 * they keep, exactly as `InteractionsBuilder` weighs them; the popularity of the held-out events' items is summed
 * again from the kept events (`popularityWithout`), trending loses the held-out events' shares; items left without
 * an event leave the catalog. "Now", the window and the caps are the candidate's: a changed row keeps the items of
 * the candidate's row it still has events of. Where no cap binds, this is `buildEvaluationModel` of the kept events,
 * but for `itemUsers`, which counts the users of positive-weight events only.
 */
export function buildHoldoutModel(
  candidate: { input: BuildInput; referenceTimeMs: number },
  events: EventColumns,
  split: Pick<GateSplit, 'heldOut' | 'changed'>,
  ids: { itemIds: readonly string[]; itemCategories: readonly string[] },
  settings: Pick<EvaluationSettings, 'interactions' | 'model'>,
): EvaluationModel {
  const { input, referenceTimeMs } = candidate;
  const { heldOut, changed } = split;
  const { items, types, times } = events;
  const numItems = input.interactions.numItems;
  const options = settings.interactions;
  const typeWeight = Float64Array.from(EVENT_TYPE_CODES, (type) => options.typeWeights[type]);
  const halfLifeMs = options.halfLifeDays * MS_PER_DAY;
  // The same expression as InteractionsBuilder's, so a re-weighed row comes out bit for bit as a rebuild's.
  const decayed = (e: number) =>
    typeWeight[types[e]!]! * 0.5 ** (Math.max(0, referenceTimeMs - times[e]!) / halfLifeMs);

  const keptEvents = new Uint32Array(numItems);
  for (let e = 0; e < items.length; e++) keptEvents[items[e]!]!++;
  for (let p = 0; p < changed.events.length; p++) {
    const e = changed.events[p]!;
    if (heldOut[e] === 1) keptEvents[items[e]!]!--;
  }
  const popularity = popularityWithout(input, events, changed, heldOut, typeWeight, decayed);
  const trending = trendingWithout(input, events, changed, heldOut, typeWeight, {
    recentStartMs: referenceTimeMs - options.trendingRecentHours * MS_PER_HOUR,
    baselineStartMs: referenceTimeMs - options.trendingBaselineHours * MS_PER_HOUR,
    referenceTimeMs,
  });

  const rows = weighChangedRows(input, changed, heldOut, events, typeWeight, decayed);
  const interactions = patchRows(input.interactions, changed.users, rows);

  // Items only the held-out events had leave the catalog; the rest keep their (sorted) order.
  const newIndex = new Int32Array(numItems);
  const itemIds: string[] = [];
  const categories: string[] = [];
  for (let i = 0; i < numItems; i++) {
    newIndex[i] = keptEvents[i] === 0 ? -1 : itemIds.length;
    if (keptEvents[i] === 0) continue;
    itemIds.push(ids.itemIds[i]!);
    categories.push(ids.itemCategories[i] ?? '');
  }
  const kept = <T extends Float64Array | Uint32Array>(values: T): T => {
    if (itemIds.length === numItems) return values;
    for (let i = 0; i < numItems; i++) if (newIndex[i] !== -1) values[newIndex[i]!] = values[i]!;
    return values.subarray(0, itemIds.length) as T;
  };
  if (itemIds.length < numItems)
    for (let q = 0; q < interactions.itemIdx.length; q++)
      interactions.itemIdx[q] = newIndex[interactions.itemIdx[q]!]!;
  interactions.numItems = itemIds.length;
  const itemUsers = kept(rows.itemUsers);
  const holdoutInput: BuildInput = {
    interactions,
    itemPopularity: kept(popularity),
    itemUsers,
    trendingRecent: kept(trending.recent),
    trendingBaseline: kept(trending.baseline),
    trendingRecentUsers: kept(trending.recentUsers),
    baskets: NO_BASKETS,
  };
  const assembled = assembleModel(
    holdoutInput,
    itemIds,
    categories,
    settings.model,
    'evaluation',
    referenceTimeMs,
  );
  return { assembled, view: modelViewOf(assembled, new Map(itemIds.map((id, i) => [id, i]))), itemUsers };
}

/**
 * The candidate's popularity without the held-out events. An item's popularity holds one term per shopper, the
 * heaviest decayed weight of their events of it, so taking an event out is no subtraction: the items of held-out
 * weighted events are summed again over every user's kept events, users ascending as `InteractionsBuilder` sums
 * them (a maximum does not depend on its order), so they come out bit for bit as a rebuild's.
 */
function popularityWithout(
  input: BuildInput,
  events: EventColumns,
  changed: GateSplit['changed'],
  heldOut: Uint8Array,
  typeWeight: Float64Array,
  decayed: (e: number) => number,
): Float64Array {
  const popularity = input.itemPopularity.slice();
  const numItems = popularity.length;
  const numUsers = input.interactions.numUsers;
  const { users, items, types } = events;
  const resummed = new Uint8Array(numItems);
  for (let p = 0; p < changed.events.length; p++) {
    const e = changed.events[p]!;
    if (heldOut[e] === 1 && typeWeight[types[e]!]! > 0) resummed[items[e]!] = 1;
  }
  const counts = (e: number) => heldOut[e] === 0 && resummed[items[e]!] === 1 && typeWeight[types[e]!]! > 0;
  // The kept weighted events of those items, grouped by user (a counting sort).
  const userStart = new Uint32Array(numUsers + 1);
  for (let e = 0; e < items.length; e++) if (counts(e)) userStart[users[e]! + 1]!++;
  for (let u = 0; u < numUsers; u++) userStart[u + 1]! += userStart[u]!;
  const byUser = new Uint32Array(userStart[numUsers]!);
  const fill = userStart.slice(0, numUsers);
  for (let e = 0; e < items.length; e++) if (counts(e)) byUser[fill[users[e]!]!++] = e;
  for (let i = 0; i < numItems; i++) if (resummed[i] === 1) popularity[i] = 0;
  const heaviest = new Float64Array(numItems);
  const heaviestOf = new Int32Array(numItems).fill(-1);
  const touched: number[] = [];
  for (let u = 0; u < numUsers; u++) {
    touched.length = 0;
    for (let t = userStart[u]!; t < userStart[u + 1]!; t++) {
      const e = byUser[t]!;
      const item = items[e]!;
      const weight = decayed(e);
      if (heaviestOf[item] !== u) {
        heaviestOf[item] = u;
        heaviest[item] = weight;
        touched.push(item);
      } else heaviest[item] = Math.max(heaviest[item]!, weight);
    }
    for (const item of touched) popularity[item]! += heaviest[item]!;
  }
  return popularity;
}

/**
 * The candidate's trending counts without the held-out events: each changed user's term of an item (their heaviest
 * event type in a window, as `InteractionsBuilder` counts it) is replaced by the heaviest of the events they keep.
 */
function trendingWithout(
  input: BuildInput,
  events: EventColumns,
  changed: GateSplit['changed'],
  heldOut: Uint8Array,
  typeWeight: Float64Array,
  window: { recentStartMs: number; baselineStartMs: number; referenceTimeMs: number },
) {
  const recent = input.trendingRecent.slice();
  const baseline = input.trendingBaseline.slice();
  const recentUsers = input.trendingRecentUsers.slice();
  const numItems = recent.length;
  const { items, types, times } = events;
  // Per item, the changed user's heaviest type weight in each window: all their events, and those they keep.
  const recentAll = new Float64Array(numItems);
  const recentKept = new Float64Array(numItems);
  const baselineAll = new Float64Array(numItems);
  const baselineKept = new Float64Array(numItems);
  const touchedBy = new Int32Array(numItems).fill(-1);
  const touched: number[] = [];
  for (let k = 0; k < changed.users.length; k++) {
    touched.length = 0;
    for (let p = changed.start[k]!; p < changed.start[k + 1]!; p++) {
      const e = changed.events[p]!;
      const ms = times[e]!;
      if (ms > window.referenceTimeMs || ms <= window.baselineStartMs) continue;
      const item = items[e]!;
      if (touchedBy[item] !== k) {
        touchedBy[item] = k;
        touched.push(item);
        recentAll[item] = recentKept[item] = baselineAll[item] = baselineKept[item] = 0;
      }
      const weight = typeWeight[types[e]!]!;
      const keeps = heldOut[e] === 0;
      if (ms > window.recentStartMs) {
        recentAll[item] = Math.max(recentAll[item]!, weight);
        if (keeps) recentKept[item] = Math.max(recentKept[item]!, weight);
      } else {
        baselineAll[item] = Math.max(baselineAll[item]!, weight);
        if (keeps) baselineKept[item] = Math.max(baselineKept[item]!, weight);
      }
    }
    for (const item of touched) {
      if (recentKept[item] !== recentAll[item]) {
        recent[item] = recent[item]! - recentAll[item]! + recentKept[item]!;
        if (recentKept[item] === 0) recentUsers[item]!--;
      }
      if (baselineKept[item] !== baselineAll[item])
        baseline[item] = baseline[item]! - baselineAll[item]! + baselineKept[item]!;
    }
  }
  return { recent, baseline, recentUsers };
}

/** The changed users' new rows (CSR over them, items ascending) and the candidate's users per item less theirs. */
function weighChangedRows(
  input: BuildInput,
  changed: GateSplit['changed'],
  heldOut: Uint8Array,
  events: EventColumns,
  typeWeight: Float64Array,
  decayed: (e: number) => number,
) {
  const { userPtr, itemIdx } = input.interactions;
  const numItems = input.interactions.numItems;
  const weightOf = new Float64Array(numItems);
  const primaryOf = new Uint8Array(numItems);
  const keptBy = new Int32Array(numItems).fill(-1);
  const countedBy = new Int32Array(numItems).fill(-1);
  const itemUsers = input.itemUsers.slice();
  const ptr = new Uint32Array(changed.users.length + 1);
  // A new row keeps some of the candidate's row: their lengths bound it.
  let bound = 0;
  for (const u of changed.users) bound += userPtr[u + 1]! - userPtr[u]!;
  const rowItems = new Uint32Array(bound);
  const rowWeights = new Float64Array(bound);
  const rowPrimary = new Uint8Array(bound);
  const { items, times, types } = events;
  let out = 0;
  for (let k = 0; k < changed.users.length; k++) {
    // Summed in the builder's order, by time then type within an item, so a row comes out bit for bit as a rebuild's.
    const kept = changed.events
      .slice(changed.start[k]!, changed.start[k + 1]!)
      .filter((e) => heldOut[e] === 0 && typeWeight[types[e]!] !== 0)
      .sort((a, b) => times[a]! - times[b]! || types[a]! - types[b]!);
    for (const e of kept) {
      const item = items[e]!;
      if (keptBy[item] !== k) {
        keptBy[item] = k;
        weightOf[item] = 0;
        primaryOf[item] = 0;
      }
      weightOf[item]! += decayed(e);
      if (types[e] === CART || types[e] === PURCHASE) primaryOf[item] = 1;
    }
    // A user who kept no weighted event of an item no longer counts among its users.
    for (let p = changed.start[k]!; p < changed.start[k + 1]!; p++) {
      const e = changed.events[p]!;
      const item = items[e]!;
      if (typeWeight[types[e]!] === 0 || countedBy[item] === k) continue;
      countedBy[item] = k;
      if (keptBy[item] !== k) itemUsers[item]!--;
    }
    const u = changed.users[k]!;
    for (let q = userPtr[u]!; q < userPtr[u + 1]!; q++) {
      const item = itemIdx[q]!;
      if (keptBy[item] !== k) continue;
      rowItems[out] = item;
      rowWeights[out] = weightOf[item]!;
      rowPrimary[out] = primaryOf[item]!;
      out++;
    }
    ptr[k + 1] = out;
  }
  return {
    ptr,
    itemIdx: rowItems.subarray(0, out),
    weight: rowWeights.subarray(0, out),
    primary: rowPrimary.subarray(0, out),
    itemUsers,
  };
}

/** A copy of the matrix with the rows of `users` (ascending) replaced by `rows`. */
function patchRows(
  x: Interactions,
  users: Uint32Array,
  rows: { ptr: Uint32Array; itemIdx: Uint32Array; weight: Float64Array; primary: Uint8Array },
): Interactions {
  let nnz = x.userPtr[x.numUsers]! + rows.itemIdx.length;
  for (const u of users) nnz -= x.userPtr[u + 1]! - x.userPtr[u]!;
  const userPtr = new Uint32Array(x.numUsers + 1);
  const itemIdx = new Uint32Array(nnz);
  const weight = new Float64Array(nnz);
  const primary = new Uint8Array(nnz);
  let out = 0;
  let from = 0;
  const copyRows = (to: number) => {
    // Rows [from, to) unchanged, in one block.
    const shift = out - x.userPtr[from]!;
    const begin = x.userPtr[from]!;
    const end = x.userPtr[to]!;
    itemIdx.set(x.itemIdx.subarray(begin, end), out);
    weight.set(x.weight.subarray(begin, end), out);
    primary.set(x.primary.subarray(begin, end), out);
    for (let u = from; u < to; u++) userPtr[u + 1] = x.userPtr[u + 1]! + shift;
    out += end - begin;
  };
  users.forEach((u, k) => {
    copyRows(u);
    const begin = rows.ptr[k]!;
    const end = rows.ptr[k + 1]!;
    itemIdx.set(rows.itemIdx.subarray(begin, end), out);
    weight.set(rows.weight.subarray(begin, end), out);
    primary.set(rows.primary.subarray(begin, end), out);
    out += end - begin;
    userPtr[u + 1] = out;
    from = u + 1;
  });
  copyRows(x.numUsers);
  return { numUsers: x.numUsers, numItems: x.numItems, userPtr, itemIdx, weight, primary };
}

/** What serving reads of an assembled model, as the api holds it in process. */
function modelViewOf(assembled: AssembledModel, itemIndex: ReadonlyMap<string, number>): ModelView {
  const { model } = assembled;
  return {
    itemIds: model.itemIds,
    itemIndex,
    itemCategories: model.itemCategories,
    popular: model.popular,
    trending: model.trending,
    popularByCategory: model.popularByCategory,
  };
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

/** Item indexes by users, most first, ties by index: a counting sort (a comparator sort took 0.1–0.3 s on 166k items). */
export function popularityOrder(itemUsers: Uint32Array): Uint32Array {
  let most = 0;
  for (let i = 0; i < itemUsers.length; i++) if (itemUsers[i]! > most) most = itemUsers[i]!;
  // Counting sort on most − users: ascending keys are descending users, and the stable pass keeps ties by index.
  const start = new Uint32Array(most + 2);
  for (let i = 0; i < itemUsers.length; i++) start[most - itemUsers[i]! + 1]!++;
  for (let c = 0; c <= most; c++) start[c + 1]! += start[c]!;
  const order = new Uint32Array(itemUsers.length);
  for (let i = 0; i < itemUsers.length; i++) order[start[most - itemUsers[i]!]!++] = i;
  return order;
}

/**
 * Standard error of a mean of n values from their sum and sum of squares: sample standard deviation / √n (0 for
 * fewer than two values).
 */
export function standardErrorOfMean(sum: number, sumOfSquares: number, n: number): number {
  if (n < 2) return 0;
  const variance = Math.max(0, (sumOfSquares - (sum * sum) / n) / (n - 1));
  return Math.sqrt(variance / n);
}

/** Running sum and sum of squares of the per-user NDCG@10, for its standard error. */
class NdcgSpread {
  private sum = 0;
  private sumOfSquares = 0;
  private n = 0;

  add(ranked: readonly string[], target: string): void {
    const ndcg = ndcgAtK(ranked, target, 10);
    this.sum += ndcg;
    this.sumOfSquares += ndcg * ndcg;
    this.n++;
  }

  standardError(): number {
    return standardErrorOfMean(this.sum, this.sumOfSquares, this.n);
  }
}

export interface CaseScores {
  model: MetricSummary;
  /** standard error of the model's NDCG@10 over these users */
  ndcg10StdErr: number;
  popularity: MetricSummary;
  catalogItems: number;
}

export interface EvaluationResult extends CaseScores {
  trainEvents: number;
}

/** Scores a model on cases through the serving path, and the popularity baseline on the same cases. */
export function evaluateCases(
  model: EvaluationModel,
  cases: readonly EvalCase<DatasetEvent>[],
  serving: ServingSettings,
): CaseScores {
  const catalogItems = model.view.itemIds.length;
  const served = new MetricAccumulator(catalogItems);
  const spread = new NdcgSpread();
  const popular = new MetricAccumulator(catalogItems);
  const order = popularityOrder(model.itemUsers);
  for (const evalCase of cases) {
    const ranked = servedRanking(model, evalCase, serving);
    served.add(ranked, evalCase.target, evalCase.heldOut);
    spread.add(ranked, evalCase.target);
    popular.add(popularityRanking(model, order, evalCase), evalCase.target, evalCase.heldOut);
  }
  return {
    model: served.summary(),
    ndcg10StdErr: spread.standardError(),
    popularity: popular.summary(),
    catalogItems,
  };
}

/** `evaluateCases` on the split's cases. */
export function evaluateModel(
  model: EvaluationModel,
  split: EvalSplit<DatasetEvent>,
  serving: ServingSettings,
): EvaluationResult {
  return { ...evaluateCases(model, split.cases, serving), trainEvents: split.train.length };
}

/**
 * The "recently seen" baseline of a return-to-it case: the items of the user's history they have not bought,
 * newest first — what a "pick up where you left off" shelf without a model shows.
 */
export function recentlySeenRanking(evalCase: EvalCase<DatasetEvent>, count = RANKED): string[] {
  const bought = new Set<string>();
  for (const e of evalCase.history) if (e.type === 'purchase') bought.add(e.itemId);
  const ranked: string[] = [];
  const listed = new Set<string>();
  for (let i = evalCase.history.length - 1; i >= 0 && ranked.length < count; i--) {
    const { itemId, type } = evalCase.history[i]!;
    if (type === 'impression' || bought.has(itemId) || listed.has(itemId)) continue;
    listed.add(itemId);
    ranked.push(itemId);
  }
  return ranked;
}

export interface ReturnScores {
  /** served with `offerSeen`: the user's unbought history items may be offered */
  model: MetricSummary;
  ndcg10StdErr: number;
  recentlySeen: MetricSummary;
}

/**
 * Return-to-it cases (the target is an item the user had seen and not bought): ranked by the serving code as a
 * placement that offers seen items ranks them, and by the recently-seen baseline.
 */
export function evaluateReturnCases(
  model: EvaluationModel,
  cases: readonly EvalCase<DatasetEvent>[],
  serving: ServingSettings,
): ReturnScores {
  const catalogItems = model.view.itemIds.length;
  const offering: ServingSettings = { ...serving, offerSeen: true };
  const served = new MetricAccumulator(catalogItems);
  const spread = new NdcgSpread();
  const recent = new MetricAccumulator(catalogItems);
  for (const evalCase of cases) {
    const ranked = servedRanking(model, evalCase, offering);
    served.add(ranked, evalCase.target, evalCase.heldOut);
    spread.add(ranked, evalCase.target);
    recent.add(recentlySeenRanking(evalCase), evalCase.target, evalCase.heldOut);
  }
  return { model: served.summary(), ndcg10StdErr: spread.standardError(), recentlySeen: recent.summary() };
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
