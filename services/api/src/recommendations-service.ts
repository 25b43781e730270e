import {
  type ArmSettings,
  type ExperimentArm,
  encodeRecommendationAnswerId,
  NON_PERSONALIZING_ALGORITHMS,
  type RecommendationContext,
  type RecommendationsReply,
} from '@elevens/domain';
import { HttpError } from '@elevens/http';
import {
  type FallbackList,
  type RecommendContext,
  recommend,
  type ServingSettings,
  weighUserHistory,
} from '@elevens/recommender';
import type { UserStateRead } from '@elevens/redis-stores';
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
  /** the storefront's name for the slot, which experiments are set on; default: the context */
  placement?: string;
  /**
   * answer as outside every experiment, from the default model and settings (push item choice: a push's
   * attributionId names no arm, so an arm's choice would be counted for none)
   */
  outsideExperiments?: boolean;
}

/** Page position. Weights read no clock, so later pages rank as the first did while the user's state holds. */
interface Cursor {
  offset: number;
}

const MAX_OFFSET = 10_000;

/** Cursors by offset: nearly every answer carries the one after its first page, so each is encoded once. */
const cursors = new Map<number, string>();

function encodeCursor(cursor: Cursor): string {
  let text = cursors.get(cursor.offset);
  if (text === undefined) {
    text = Buffer.from(JSON.stringify({ o: cursor.offset })).toString('base64url');
    // Offsets are at most MAX_OFFSET: the map holds at most that many.
    cursors.set(cursor.offset, text);
  }
  return text;
}

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

/**
 * The fallback order of an arm naming a list that does not personalize: its list leads (the page's similar or
 * bought-together items still come first), so a popular arm and a trending arm answer differently.
 */
const ARM_FALLBACK_ORDER: Readonly<
  Partial<Record<NonNullable<ExperimentArm['algorithm']>, readonly FallbackList[]>>
> = {
  popular: ['categoryPopular', 'popular', 'trending'],
  trending: ['trending', 'categoryPopular', 'popular'],
};

/** Decorates `recommendationSettings`, which `recommendFor` reads; register before any route that calls it. */
export const recommendationsServicePlugin = fp(
  async (app: FastifyInstance, settings: RecommendationServiceSettings) => {
    app.decorate('recommendationSettings', settings);
  },
  {
    name: 'elevens-recommendations',
    dependencies: ['elevens-model', 'elevens-catalog', 'elevens-boost-rules', 'elevens-experiments'],
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

/** A fresh answer id carrying what the answer came from, so events that cite it can be attributed (answer-id.ts). */
export const newRecommendationId = (
  modelVersion: string | null,
  placement: string,
  experiment: string | null,
  arm: string | null,
): string =>
  encodeRecommendationAnswerId({
    modelVersion,
    placement,
    experiment,
    arm,
    answeredAtMs: Date.now(),
  });

/** The serving settings with an experiment arm's overrides; an arm's history is at most what the api reads. */
function armSettings(settings: ServingSettings, overrides: ArmSettings | undefined): ServingSettings {
  if (overrides === undefined) return settings;
  return {
    ...settings,
    ...(overrides.historyLength === undefined
      ? {}
      : { historyLength: Math.min(overrides.historyLength, settings.historyLength) }),
    ...(overrides.maxAnchors === undefined ? {} : { maxAnchors: overrides.maxAnchors }),
    ...(overrides.positionDecay === undefined ? {} : { positionDecay: overrides.positionDecay }),
    ...(overrides.sequenceShare === undefined ? {} : { sequenceShare: overrides.sequenceShare }),
    ...(overrides.historyHalfLifeHours === undefined
      ? {}
      : { halfLifeMs: overrides.historyHalfLifeHours * 3_600_000 }),
    ...(overrides.maxPerCategory === undefined ? {} : { maxPerCategory: overrides.maxPerCategory }),
  };
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
  // A home answer reads no item: one sent without its context would be ignored, and could be offered on its own page.
  if (context === 'home' && options.itemId !== undefined)
    throw new HttpError(
      400,
      'bad_request',
      "itemId: only with context=product (the page's item) or context=cart (the cart's item)",
    );
  const placement = options.placement ?? context;
  const cursor = options.cursor === undefined ? { offset: 0 } : decodeCursor(options.cursor);
  const defaultModel = app.model.current();
  if (!defaultModel) {
    return {
      reply: {
        recommendationId: newRecommendationId(null, placement, null, null),
        userId: options.userId,
        modelVersion: null,
        personalized: false,
        degraded: true,
        items: [],
      },
      from: null,
    };
  }
  const user = await userStateFor(app, options.userId, app.recommendationSettings.historyLength, state);
  // The arm needs the consent the state read returned: a user without it joins no personalizing arm.
  const assignment = options.outsideExperiments
    ? null
    : app.experiments.assign(options.userId, placement, user.consent);
  const arm = assignment?.arm;
  // The arm's own model when it names one that is held; else the default line's, the answer saying so.
  const serving = app.model.forArm(arm);
  const model = serving.snapshot ?? defaultModel;
  const settings = armSettings(app.recommendationSettings, arm?.settings);
  const personalizes =
    user.consent && !(arm?.algorithm !== undefined && NON_PERSONALIZING_ALGORITHMS.has(arm.algorithm));
  const history =
    user.history.length > settings.historyLength
      ? user.history.slice(0, settings.historyLength)
      : user.history;
  const contextList = context === 'home' ? null : CONTEXT_LIST[context];
  // Rules, catalog and their versions are taken in one synchronous stretch: a poll cannot swap them between.
  const rules = app.boostRules.resolve(model);
  const fallbackOrder = arm?.algorithm === undefined ? undefined : ARM_FALLBACK_ORDER[arm.algorithm];
  const result = recommend({
    model,
    historyWeights: personalizes ? weighUserHistory(history, settings) : NO_HISTORY,
    neighbors: model.lookup.neighbors,
    ...(contextList ? { context: contextOf(model, contextList, options.itemId!) } : {}),
    purchased: user.purchased,
    exclude: options.exclude === undefined ? NOTHING : new Set(options.exclude),
    isServable: app.catalog.isServable,
    unservable: app.catalog.unservableIn(model),
    rules: rules.active,
    ...(fallbackOrder === undefined ? {} : { fallbackOrder }),
    limit: options.limit,
    offset: cursor.offset,
    ...(options.category === undefined ? {} : { category: options.category }),
    settings: options.offerSeen ? { ...settings, offerSeen: true } : settings,
  });
  const experiment = assignment?.experiment ?? null;
  return {
    reply: {
      recommendationId: newRecommendationId(model.version, placement, experiment, arm?.name ?? null),
      userId: options.userId,
      modelVersion: model.version,
      personalized: result.personalized,
      degraded: user.degraded,
      ...(assignment ? { experiment: assignment.experiment, arm: assignment.arm.name } : {}),
      ...(serving.modelFallback ? { modelFallback: true as const } : {}),
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
  /** the user's recent events, newest first; empty when the read failed */
  history: UserStateRead['history'];
  purchased: ReadonlySet<string>;
  consent: boolean;
  /** the read failed; the answer leans on the in-process model */
  degraded: boolean;
}

async function userStateFor(
  app: FastifyInstance,
  userId: string,
  historyLength: number,
  read: UserStateRead | undefined,
): Promise<UserState> {
  let state: UserStateRead;
  try {
    state = read ?? (await app.liveState.readUserState(userId, historyLength));
  } catch {
    // Without a readable consent flag the answer is not personalized.
    return { history: [], purchased: NOTHING, consent: false, degraded: true };
  }
  return {
    history: state.history,
    purchased: state.purchased.length === 0 ? NOTHING : new Set(state.purchased),
    consent: state.personalization,
    degraded: false,
  };
}
