import { randomUUID } from 'node:crypto';
import { parseHistoryEntry, type ScoredIndexes } from '@elevens/cache';
import type { RecommendationContext, RecommendationsReply } from '@elevens/domain';
import { HttpError } from '@elevens/http';
import {
  type HistoryEvent,
  type RecommendContext,
  recommend,
  type ServingSettings,
  weighUserHistory,
} from '@elevens/recommender';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { ListKind, ServedSnapshot } from './plugins/model';

declare module 'fastify' {
  interface FastifyInstance {
    recommendationSettings: RecommendationServiceSettings;
  }
}

export type RecommendationServiceSettings = ServingSettings;

export interface RecommendForOptions {
  userId: string;
  limit: number;
  /** item ids never to return (for push: the items sent to the user recently) */
  exclude?: readonly string[];
  context?: RecommendationContext;
  /** the product viewed (context=product) or the item in the cart (context=cart) */
  itemId?: string;
  category?: string;
  /** `nextCursor` of the previous page */
  cursor?: string;
  /** the placement offers the items of the user's history they have not bought (`RecommendSettings.offerSeen`) */
  offerSeen?: boolean;
}

/** Page position. Weights read no clock, so later pages rank as the first did while the user's state holds. */
interface Cursor {
  offset: number;
}

const MAX_OFFSET = 10_000;

const encodeCursor = (cursor: Cursor) =>
  Buffer.from(JSON.stringify({ o: cursor.offset })).toString('base64url');

function decodeCursor(text: string): Cursor {
  try {
    const { o } = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as { o: unknown };
    if (Number.isInteger(o) && (o as number) >= 0 && (o as number) <= MAX_OFFSET)
      return { offset: o as number };
  } catch {
    // falls through to the 400 below
  }
  throw new HttpError(400, 'bad_request', 'cursor: not a cursor this service issued');
}

const CONTEXT_LIST: Record<
  Exclude<RecommendationContext, 'home'>,
  { kind: ListKind; source: RecommendContext['source'] }
> = {
  product: { kind: 'neighbors', source: 'similar' },
  cart: { kind: 'boughtTogether', source: 'bought_together' },
};

/** Decorates `recommendationSettings`, which `recommendFor` reads; register before any route that calls it. */
export const recommendationsServicePlugin = fp(
  async (app: FastifyInstance, settings: RecommendationServiceSettings) => {
    app.decorate('recommendationSettings', settings);
  },
  {
    name: 'elevens-recommendations',
    dependencies: ['elevens-model', 'elevens-catalog', 'elevens-boost-rules'],
  },
);

/** What an answer was computed from, so a cache can tell whether it still holds. */
export interface ComputedFrom {
  modelVersion: string;
  boostRulesVersion: number;
  catalogVersion: string;
  /** a boost or pin window opens or closes then (Infinity: none pending): the answer is stale from then */
  rulesChangeAtMs: number;
}

export interface ComputedRecommendation {
  reply: RecommendationsReply;
  /** null when there was no model to compute from */
  from: ComputedFrom | null;
}

/**
 * One recommendation answer for a user, as `GET /v1/recommendations` gives it; the push decisions use it for
 * "the best item to push". Redis is read in at most two pipelined round trips — history, purchases, consent
 * and the context item's list, then the neighbour lists of the history items not cached in process — and
 * nothing from Postgres. When Redis fails the answer comes from the in-process model alone, marked degraded.
 */
export async function recommendFor(
  app: FastifyInstance,
  options: RecommendForOptions,
): Promise<RecommendationsReply> {
  return (await computeRecommendation(app, options)).reply;
}

/** `recommendFor`, also saying which model, rules and catalog versions the answer came from. */
export async function computeRecommendation(
  app: FastifyInstance,
  options: RecommendForOptions,
): Promise<ComputedRecommendation> {
  const context = options.context ?? 'home';
  if (context !== 'home' && options.itemId === undefined)
    throw new HttpError(400, 'bad_request', `itemId: required with context=${context}`);
  const cursor = options.cursor === undefined ? { offset: 0 } : decodeCursor(options.cursor);
  const recommendationId = randomUUID();
  const model = app.model.current();
  if (!model) {
    return {
      reply: {
        recommendationId,
        userId: options.userId,
        modelVersion: null,
        personalized: false,
        degraded: true,
        items: [],
      },
      from: null,
    };
  }
  const settings = app.recommendationSettings;
  const reads = await readUserState(app, model, options.userId, context, options.itemId, settings);
  // Rules, catalog and their versions are taken in one synchronous stretch: a poll cannot swap them between.
  const rules = app.boostRules.resolve(model);
  const result = recommend({
    model,
    historyWeights: reads.historyWeights,
    neighbors: reads.neighbors,
    ...(reads.context ? { context: reads.context } : {}),
    purchased: reads.purchased,
    exclude: new Set(options.exclude),
    isServable: app.catalog.isServable,
    rules: rules.active,
    limit: options.limit,
    offset: cursor.offset,
    ...(options.category === undefined ? {} : { category: options.category }),
    settings: options.offerSeen ? { ...settings, offerSeen: true } : settings,
  });
  return {
    reply: {
      recommendationId,
      userId: options.userId,
      modelVersion: model.version,
      personalized: result.personalized,
      degraded: reads.degraded,
      items: result.items,
      ...(result.nextOffset === undefined || result.nextOffset > MAX_OFFSET
        ? {}
        : { nextCursor: encodeCursor({ offset: result.nextOffset }) }),
    },
    from: {
      modelVersion: model.version,
      boostRulesVersion: rules.version,
      catalogVersion: app.catalog.version(),
      rulesChangeAtMs: rules.changesAtMs,
    },
  };
}

interface UserState {
  historyWeights: Map<string, number>;
  purchased: Set<string>;
  neighbors: Map<string, ScoredIndexes>;
  context?: RecommendContext;
  /** some reads failed; the answer leans on the in-process model */
  degraded: boolean;
}

async function readUserState(
  app: FastifyInstance,
  model: ServedSnapshot,
  userId: string,
  context: RecommendationContext,
  contextItemId: string | undefined,
  settings: RecommendationServiceSettings,
): Promise<UserState> {
  const contextList = context === 'home' || contextItemId === undefined ? null : CONTEXT_LIST[context];
  const contextLists = contextList ? app.model.cached(contextList.kind, model, [contextItemId!]) : null;
  const fetchContext = contextList !== null && contextLists!.missing.length > 0;
  // Separate commands, not a MULTI or explicit pipeline: the auto-pipelining client sends them, with those of
  // every other request in this event-loop turn, in one write.
  const reads = await Promise.allSettled([
    app.redis.lrange(app.keys.userHistory(userId), 0, settings.historyLength - 1),
    app.redis.smembers(app.keys.userPurchased(userId)),
    app.redis.hget(app.keys.userProfile(userId), 'personalization'),
    fetchContext
      ? app.redis.hmgetBuffer(app.model.listsKey(contextList.kind, model), contextItemId!)
      : Promise.resolve(undefined),
  ]);
  const state: UserState = {
    historyWeights: new Map(),
    purchased: new Set(),
    neighbors: new Map(),
    degraded: reads.some((read) => read.status === 'rejected'),
  };
  const value = <T>(read: PromiseSettledResult<T>) => (read.status === 'fulfilled' ? read.value : undefined);
  const [history, purchased, consent, contextBuffers] = reads;
  // Without a readable consent flag the answer is not personalized (null: never set, consent by default).
  const consentFlag = value(consent);
  if (consentFlag !== undefined && consentFlag !== '0')
    state.historyWeights = weighUserHistory(parseHistory(value(history) ?? []), settings);
  state.purchased = new Set(value(purchased) ?? []);
  const fetchedContext = value(contextBuffers);
  if (contextList) {
    if (fetchedContext !== undefined)
      app.model.store(contextList.kind, model, [contextItemId!], fetchedContext, contextLists!.found);
    state.context = {
      itemId: contextItemId!,
      source: contextList.source,
      list: contextLists!.found.get(contextItemId!),
    };
  }

  const { found, missing } = app.model.cached('neighbors', model, [...state.historyWeights.keys()]);
  state.neighbors = found;
  if (missing.length > 0) {
    try {
      const buffers = await app.redis.hmgetBuffer(app.model.listsKey('neighbors', model), ...missing);
      app.model.store('neighbors', model, missing, buffers, found);
    } catch {
      state.degraded = true;
    }
  }
  return state;
}

/**
 * The history list's entries (`JSON [type, itemId, timestampMs]`) in one JSON.parse of the whole list, which
 * costs far less than one per entry; entry by entry, skipping bad ones, only when the list holds a bad entry.
 */
function parseHistory(raw: readonly string[]): HistoryEvent[] {
  if (raw.length === 0) return [];
  let entries: unknown[];
  try {
    entries = JSON.parse(`[${raw.join(',')}]`) as unknown[];
  } catch {
    return raw.map(parseHistoryEntry).filter((e): e is HistoryEvent => e !== null);
  }
  const history: HistoryEvent[] = [];
  for (const entry of entries) {
    if (!Array.isArray(entry)) continue;
    const [type, itemId, timestampMs] = entry as unknown[];
    if (typeof type === 'string' && typeof itemId === 'string' && typeof timestampMs === 'number')
      history.push({ type, itemId, timestampMs });
  }
  return history;
}
