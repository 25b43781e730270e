import { randomUUID } from 'node:crypto';
import { parseHistoryEntry } from '@elevens/cache';
import { RecommendationsQuery, RecommendationsReply } from '@elevens/domain';
import { errorResponses, HttpError } from '@elevens/http';
import { type Anchor, type HistoryEvent, recommend, weighHistory } from '@elevens/recommender';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

export interface RecommendationRouteOptions {
  historyLength: number;
  maxAnchors: number;
  historyHalfLifeMs: number;
  maxPerCategory: number;
}

const encodeCursor = (offset: number) => Buffer.from(JSON.stringify({ o: offset })).toString('base64url');

function decodeCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  try {
    const { o } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o: unknown };
    if (typeof o === 'number' && Number.isInteger(o) && o >= 0 && o <= 10_000) return o;
  } catch {
    // falls through to the 400 below
  }
  throw new HttpError(400, 'bad_request', 'cursor: not a cursor this service issued');
}

export async function recommendationRoutes(app: FastifyInstance, options: RecommendationRouteOptions) {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/recommendations',
    {
      config: { scope: 'recommendations:read' },
      schema: {
        tags: ['recommendations'],
        summary: "Personal recommendations from the user's live history, with rules and fallbacks.",
        querystring: RecommendationsQuery,
        response: { 200: RecommendationsReply, ...errorResponses(400, 503) },
      },
    },
    async (request) => {
      const query = request.query;
      const offset = decodeCursor(query.cursor);
      const model = app.model.current();
      const recommendationId = randomUUID();
      if (!model) {
        return {
          recommendationId,
          userId: query.userId,
          modelVersion: null,
          personalized: false,
          degraded: true,
          items: [],
        };
      }
      const [historyResult, purchasedResult, consentResult] = (await app.redis
        .pipeline()
        .lrange(app.keys.userHistory(query.userId), 0, options.historyLength - 1)
        .smembers(app.keys.userPurchased(query.userId))
        .hget(app.keys.userProfile(query.userId), 'personalization')
        .exec())!;
      const consented = consentResult?.[1] !== '0';
      const history = consented
        ? ((historyResult?.[1] as string[] | undefined) ?? [])
            .map(parseHistoryEntry)
            .filter((e): e is HistoryEvent => e !== null)
        : [];
      const purchased = new Set((purchasedResult?.[1] as string[] | undefined) ?? []);
      const exclude = new Set(query.exclude ?? []);

      const weights = weighHistory(history, {
        nowMs: Date.now(),
        halfLifeMs: options.historyHalfLifeMs,
        maxAnchors: options.maxAnchors,
      });
      const lists = await app.model.neighbors(model, [...weights.keys()]);
      const anchors: Anchor[] = [];
      for (const [itemId, weight] of weights) {
        const neighbors = lists.get(itemId);
        const itemIdx = model.itemIndex.get(itemId);
        if (neighbors && itemIdx !== undefined)
          anchors.push({ itemIdx, weight, neighbors, source: 'personal' });
      }
      const historyItems = new Set(weights.keys());
      const result = recommend({
        model,
        anchors,
        isExcluded: (idx) => {
          const id = model.itemIds[idx]!;
          return purchased.has(id) || exclude.has(id) || historyItems.has(id) || !app.catalog.isServable(id);
        },
        limit: query.limit,
        offset,
        ...(query.category === undefined ? {} : { category: query.category }),
        maxPerCategory: options.maxPerCategory,
      });
      return {
        recommendationId,
        userId: query.userId,
        modelVersion: model.version,
        personalized: result.fromAnchors,
        degraded: false,
        items: result.items,
        ...(result.nextOffset === undefined ? {} : { nextCursor: encodeCursor(result.nextOffset) }),
      };
    },
  );
}
