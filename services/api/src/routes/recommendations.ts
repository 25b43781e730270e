import { RecommendationsQuery, RecommendationsReply } from '@elevens/domain';
import { errorResponses } from '@elevens/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { recommendFor } from '../recommendations-service';

/**
 * The reply is built by our own code from typed values, so validating it again with zod on every call buys
 * nothing and costs much of the route's time (see docs/benchmarks.md, bench:api): the zod schema stays for the
 * documentation and the 200 answer is written with JSON.stringify.
 */
const stringifyReply = () => (data: unknown) => JSON.stringify(data);

export async function recommendationRoutes(app: FastifyInstance) {
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
      serializerCompiler: stringifyReply,
    },
    async (request) => {
      const { userId, limit, context, itemId, category, exclude, cursor } = request.query;
      return recommendFor(app, {
        userId,
        limit,
        context,
        ...(itemId === undefined ? {} : { itemId }),
        ...(category === undefined ? {} : { category }),
        ...(exclude === undefined ? {} : { exclude }),
        ...(cursor === undefined ? {} : { cursor }),
      });
    },
  );
}
