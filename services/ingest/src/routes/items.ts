import { UpsertItemsBody, UpsertItemsReply } from '@elevens/domain';
import { errorResponses } from '@elevens/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

export async function itemRoutes(app: FastifyInstance) {
  app.withTypeProvider<ZodTypeProvider>().put(
    '/v1/items',
    {
      config: { scope: 'events:write' },
      schema: {
        tags: ['catalog'],
        summary: 'Upsert catalog items; blocked or unavailable items leave serving within a second.',
        body: UpsertItemsBody,
        response: { 200: UpsertItemsReply, ...errorResponses(400, 413, 415, 503) },
      },
    },
    async (request) => {
      const results = await app.catalogItems.upsert(request.body.items, (upserted) =>
        app.unservableItems.record(upserted),
      );
      return { upserted: results.length };
    },
  );
}
