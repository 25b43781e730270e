import { ElevensClient } from '@elevens/client';
import { type EvalSplit, MetricAccumulator, type MetricSummary } from '@elevens/evaluation';
import {
  buildEvaluationModel,
  type DatasetEvent,
  type EvaluationSettings,
  popularityOrder,
  popularityRanking,
  servedRanking,
} from '@elevens/trainer';

/** How many items the protocol reads of each answer (Recall@20; the other metrics read the top 10). */
const RANKED = 20;

export interface ServedEvaluationTarget {
  /** the running api */
  apiUrl: string;
  /** the running ingest; only needed to post the train events */
  ingestUrl?: string;
  /** a key with recommendations:read (and events:write to post events) */
  apiKey?: string;
  /** requests in flight at once */
  concurrency?: number;
}

export interface ServedEvaluationResult {
  popularity: MetricSummary;
  /** what `elevens evaluate` computes in process for the same split and settings */
  offline: MetricSummary;
  /** what the running api answered */
  served: MetricSummary;
  /** users whose served top 20 equals the offline one, item for item and in order */
  identical: number;
  /** the first users whose lists differ, with both lists */
  differences: { userId: string; offline: string[]; served: string[] }[];
  /** the model version the api answered with (null when it had none) */
  modelVersions: string[];
}

const clientFor = (target: ServedEvaluationTarget) =>
  new ElevensClient({
    apiUrl: target.apiUrl,
    ...(target.ingestUrl === undefined ? {} : { ingestUrl: target.ingestUrl }),
    ...(target.apiKey === undefined ? {} : { apiKey: target.apiKey }),
    timeoutMs: 30_000,
  });

/**
 * Posts the split's train events through ingest with their own timestamps, in time order (ties in input order),
 * as a storefront would have sent them. Event ids are the events' positions in that order, so posting the same
 * split again stores nothing twice.
 */
export async function postTrainEvents(
  split: EvalSplit<DatasetEvent>,
  target: ServedEvaluationTarget,
  onProgress?: (posted: number) => void,
): Promise<number> {
  const client = clientFor(target);
  const order = Array.from(split.train.keys()).sort(
    (a, b) => split.train[a]!.timestamp - split.train[b]!.timestamp || a - b,
  );
  const batchSize = 1000;
  let posted = 0;
  for (let start = 0; start < order.length; start += batchSize) {
    const events = order.slice(start, start + batchSize).map((i) => {
      const e = split.train[i]!;
      return {
        eventId: `evaluate-${i}`,
        userId: e.userId,
        itemId: e.itemId,
        type: e.type as 'view',
        timestamp: new Date(e.timestamp).toISOString(),
        ...(e.sessionId === undefined ? {} : { sessionId: e.sessionId }),
      };
    });
    const reply = await client.sendEvents(events);
    if (reply.rejected.length > 0)
      throw new Error(
        `ingest rejected ${reply.rejected.length} events: ${JSON.stringify(reply.rejected[0])}`,
      );
    posted += events.length;
    onProgress?.(posted);
  }
  return posted;
}

/** Waits until the api answers with this model version (it polls Redis for the served version). */
export async function waitForServedVersion(
  target: ServedEvaluationTarget,
  version: string,
  timeoutMs = 30_000,
): Promise<void> {
  const client = clientFor(target);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await client.recommendations({ userId: 'elevens-evaluate-probe', limit: 1 });
    if (reply.modelVersion === version) return;
    if (Date.now() > deadline)
      throw new Error(`the api still serves ${reply.modelVersion ?? 'no model'} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The protocol of `elevens evaluate` over HTTP: every evaluated user's top 20 asked of the running api (home
 * context, as a storefront's home page asks), scored against the held-out target, beside the same users' lists
 * computed in process from the same split and settings. The stack must hold exactly the split's train events
 * (see `postTrainEvents`) and serve a model built from them; the settings must be those of the api (RECS_*) and
 * the build (BUILD_*), which is what the environment gives both when they share it.
 */
export async function evaluateServed(
  split: EvalSplit<DatasetEvent>,
  itemCategories: ReadonlyMap<string, string>,
  settings: EvaluationSettings,
  target: ServedEvaluationTarget,
  onProgress?: (asked: number) => void,
): Promise<ServedEvaluationResult> {
  const model = buildEvaluationModel(split.train, itemCategories, settings);
  const catalogItems = model.view.itemIds.length;
  const order = popularityOrder(model.itemUsers);
  const popularity = new MetricAccumulator(catalogItems);
  const offline = new MetricAccumulator(catalogItems);
  const served = new MetricAccumulator(catalogItems);
  const client = clientFor(target);
  const answers: string[][] = new Array(split.cases.length);
  const versions = new Set<string>();
  let next = 0;
  let asked = 0;
  const worker = async () => {
    for (let i = next++; i < split.cases.length; i = next++) {
      const reply = await client.recommendations({ userId: split.cases[i]!.userId, limit: RANKED });
      versions.add(reply.modelVersion ?? 'none');
      answers[i] = reply.items.map((item) => item.itemId);
      asked++;
      if (asked % 100 === 0) onProgress?.(asked);
    }
  };
  await Promise.all(Array.from({ length: target.concurrency ?? 8 }, worker));
  let identical = 0;
  const differences: ServedEvaluationResult['differences'] = [];
  split.cases.forEach((evalCase, i) => {
    const offlineList = servedRanking(model, evalCase, settings.serving, RANKED);
    const servedList = answers[i]!;
    offline.add(offlineList, evalCase.target, evalCase.heldOut);
    served.add(servedList, evalCase.target, evalCase.heldOut);
    popularity.add(popularityRanking(model, order, evalCase, RANKED), evalCase.target, evalCase.heldOut);
    if (offlineList.length === servedList.length && offlineList.every((id, k) => servedList[k] === id))
      identical++;
    else if (differences.length < 5)
      differences.push({ userId: evalCase.userId, offline: offlineList, served: servedList });
  });
  return {
    popularity: popularity.summary(),
    offline: offline.summary(),
    served: served.summary(),
    identical,
    differences,
    modelVersions: [...versions],
  };
}

/** Upserts the dataset's item categories through ingest, so the build and the api see the same catalog. */
export async function postCatalog(
  itemCategories: ReadonlyMap<string, string>,
  target: Required<Pick<ServedEvaluationTarget, 'ingestUrl'>> & ServedEvaluationTarget,
): Promise<void> {
  const items = [...itemCategories].map(([itemId, categoryId]) => ({ itemId, categoryId }));
  for (let start = 0; start < items.length; start += 1000) {
    const response = await fetch(`${target.ingestUrl}/v1/items`, {
      method: 'PUT',
      headers: {
        'content-type': 'application/json',
        ...(target.apiKey === undefined ? {} : { authorization: `Bearer ${target.apiKey}` }),
      },
      body: JSON.stringify({ items: items.slice(start, start + 1000) }),
    });
    if (!response.ok) throw new Error(`PUT /v1/items answered ${response.status}: ${await response.text()}`);
  }
}
