import { MAX_EXCLUDED, RecommendationsQuery, RecommendationsReply } from '@elevens/domain';
import { errorResponses, HttpError } from '@elevens/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { createRecommendationCache } from '../recommendation-cache';

/** `exclude`'s ids and `excludeItem`'s, at most MAX_EXCLUDED in all: only a request with both pays a copy. */
function excludedItems({
  exclude,
  excludeItem,
}: Pick<RecommendationsQuery, 'exclude' | 'excludeItem'>): string[] | undefined {
  if (excludeItem === undefined) return exclude;
  if (exclude === undefined) return excludeItem;
  if (exclude.length + excludeItem.length > MAX_EXCLUDED) {
    // As the schema's own refusals read: `path: message`, and the issue in details.
    const issue = {
      path: 'querystring.excludeItem',
      message: `at most ${MAX_EXCLUDED} item ids with exclude's`,
    };
    throw new HttpError(400, 'bad_request', `${issue.path}: ${issue.message}`, [issue]);
  }
  return [...exclude, ...excludeItem];
}

/**
 * The answer is JSON text already (from the reply cache, or serialised once to fill it), sent as is: Fastify
 * does not serialise a string payload whose content type is set. The zod schema stays for the documentation;
 * validating our own typed answer again on every call would cost much of the route's time (docs/benchmarks.md).
 */
export async function recommendationRoutes(
  app: FastifyInstance,
  options: { cacheTtlMs: number; cacheMinUses: 1 | 2; now?: () => number },
) {
  const cache = createRecommendationCache(app, options.cacheTtlMs, options.cacheMinUses, options.now);
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
    async (request, reply) => {
      const { userId, limit, context, itemId, category, cursor, offerSeen, placement } = request.query;
      const exclude = excludedItems(request.query);
      const { json, result } = await cache.answer({
        userId,
        limit,
        context,
        ...(itemId === undefined ? {} : { itemId }),
        ...(category === undefined ? {} : { category }),
        ...(exclude === undefined ? {} : { exclude }),
        ...(cursor === undefined ? {} : { cursor }),
        ...(offerSeen ? { offerSeen } : {}),
        ...(placement === undefined ? {} : { placement }),
      });
      app.metrics.recommendationCache.inc({ result });
      // The JSON text of a RecommendationsReply: the type provider knows only the parsed shape.
      return reply.type('application/json; charset=utf-8').send(json as unknown as RecommendationsReply);
    },
  );
}
