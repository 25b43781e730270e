import { ItemListReply, type ScoredItem, TrendingQuery } from '@elevens/domain';
import { errorResponses } from '@elevens/http';
import type { ScoredList } from '@elevens/recommender';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

export async function trendingRoutes(app: FastifyInstance) {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/trending',
    {
      config: { scope: 'recommendations:read' },
      schema: {
        tags: ['recommendations'],
        summary:
          "Trending items: the build's trending list blended with this hour's live counts; topped up with popular items.",
        querystring: TrendingQuery,
        response: { 200: ItemListReply, ...errorResponses(400, 503) },
      },
    },
    async (request) => {
      const { category, limit } = request.query;
      const model = app.model.current();
      if (!model) return { ...(category === undefined ? {} : { category }), modelVersion: null, items: [] };
      const items: ScoredItem[] = [];
      const seen = new Set<number>();
      const take = (list: ScoredList | undefined, source: ScoredItem['source']) => {
        for (let k = 0; list && k < list.idx.length && items.length < limit; k++) {
          const idx = list.idx[k]!;
          const id = model.itemIds[idx]!;
          if (seen.has(idx) || !app.catalog.isServable(id)) continue;
          if (category !== undefined && model.itemCategories[idx] !== category) continue;
          seen.add(idx);
          items.push({ itemId: id, score: list.score[k]!, source });
        }
      };
      take(model.trending, 'trending');
      take(category === undefined ? model.popular : model.popularByCategory.get(category), 'popular');
      return { ...(category === undefined ? {} : { category }), modelVersion: model.version, items };
    },
  );
}
