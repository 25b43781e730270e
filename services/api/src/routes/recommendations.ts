import { RecommendationsQuery, RecommendationsReply } from '@elevens/domain';
import { errorResponses } from '@elevens/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { createRecommendationCache } from '../recommendation-cache';

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
      const { userId, limit, context, itemId, category, exclude, cursor, offerSeen, placement } =
        request.query;
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
