import { randomUUID } from 'node:crypto';
import { readUserState, type UserStateRead } from '@elevens/cache';
import type { RecommendationContext, RecommendationsReply } from '@elevens/domain';
import { HttpError } from '@elevens/http';
import {
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
 * "the best item to push". Redis is read once — the user's history, purchases and consent in one script call —
 * and nothing from Postgres: the model's lists are in process. When Redis fails the answer comes from the
 * in-process model alone, marked degraded.
 */
export async function recommendFor(
  app: FastifyInstance,
  options: RecommendForOptions,
): Promise<RecommendationsReply> {
  return (await computeRecommendation(app, options)).reply;
}

/**
 * `recommendFor`, also saying which model, rules and catalog versions the answer came from; from `state` when the
 * caller read the user's state already (the reply cache reads it with the stamp).
 */
export async function computeRecommendation(
  app: FastifyInstance,
  options: RecommendForOptions,
  state?: UserStateRead,
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
  const user = await userStateFor(app, options.userId, settings, state);
  const contextList = context === 'home' ? null : CONTEXT_LIST[context];
  // Rules, catalog and their versions are taken in one synchronous stretch: a poll cannot swap them between.
  const rules = app.boostRules.resolve(model);
  const result = recommend({
    model,
    historyWeights: user.historyWeights,
    neighbors: model.lookup.neighbors,
    ...(contextList ? { context: contextOf(model, contextList, options.itemId!) } : {}),
    purchased: user.purchased,
    exclude: options.exclude === undefined ? NOTHING : new Set(options.exclude),
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
      degraded: user.degraded,
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

/** The page's item with its list; an item the model does not know has none. */
function contextOf(
  model: ServedSnapshot,
  { kind, source }: (typeof CONTEXT_LIST)[keyof typeof CONTEXT_LIST],
  itemId: string,
): RecommendContext {
  const item = model.itemIndex.get(itemId);
  return { itemId, source, list: item === undefined ? undefined : model.lookup[kind].get(itemId, item) };
}

const NOTHING: ReadonlySet<string> = new Set();
const NO_HISTORY: ReadonlyMap<string, number> = new Map();

interface UserState {
  historyWeights: ReadonlyMap<string, number>;
  purchased: ReadonlySet<string>;
  /** the read failed; the answer leans on the in-process model */
  degraded: boolean;
}

async function userStateFor(
  app: FastifyInstance,
  userId: string,
  settings: RecommendationServiceSettings,
  read: UserStateRead | undefined,
): Promise<UserState> {
  let state: UserStateRead;
  try {
    state = read ?? (await readUserState(app.redisTurnBatch, app.keys, userId, settings.historyLength));
  } catch {
    // Without a readable consent flag the answer is not personalized.
    return { historyWeights: NO_HISTORY, purchased: NOTHING, degraded: true };
  }
  return {
    historyWeights: state.personalization ? weighUserHistory(state.history, settings) : NO_HISTORY,
    purchased: state.purchased.length === 0 ? NOTHING : new Set(state.purchased),
    degraded: false,
  };
}
