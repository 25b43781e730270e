import { ItemListQuery, ItemListReply, ItemParams, type ScoredItem } from '@elevens/domain';
import { errorResponses, HttpError } from '@elevens/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ListKind } from '../plugins/model';

const ROUTES: { path: string; kind: ListKind; source: ScoredItem['source']; summary: string }[] = [
  {
    path: '/v1/items/:itemId/similar',
    kind: 'neighbors',
    source: 'similar',
    summary: 'Items similar to one item, as the served model ranks them (blocked and unavailable left out).',
  },
  {
    path: '/v1/items/:itemId/bought-together',
    kind: 'boughtTogether',
    source: 'bought_together',
    summary: 'Items bought together with one item (blocked and unavailable left out).',
  },
];

export async function itemRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  for (const route of ROUTES) {
    routes.get(
      route.path,
      {
        config: { scope: 'recommendations:read' },
        schema: {
          tags: ['recommendations'],
          summary: route.summary,
          params: ItemParams,
          querystring: ItemListQuery,
          response: { 200: ItemListReply, ...errorResponses(400, 404) },
        },
      },
      async (request) => {
        const { itemId } = request.params;
        const model = app.model.current();
        if (!model) return { itemId, modelVersion: null, items: [] };
        if (!model.itemIndex.has(itemId))
          throw new HttpError(404, 'not_found', `item ${itemId} is not in the served model`);
        const lists = await app.model.lists(route.kind, model, [itemId]);
        const list = lists.get(itemId);
        const items: ScoredItem[] = [];
        for (let k = 0; list && k < list.idx.length && items.length < request.query.limit; k++) {
          const id = model.itemIds[list.idx[k]!]!;
          if (app.catalog.isServable(id))
            items.push({ itemId: id, score: list.score[k]!, source: route.source });
        }
        return { itemId, modelVersion: model.version, items };
      },
    );
  }
}
