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
      const { upserted, copied } = await app.catalogItems.upsert(request.body.items, app.unservableItems);
      // Redis lost the set: restore it whole from Postgres now that this write is committed. The items are stored
      // either way; when the restore fails, the api's next poll restores it and keeps serving its last set meanwhile.
      if (!copied)
        await app.catalogItems
          .restoreUnservable(app.unservableItems)
          .catch((error: unknown) =>
            request.log.error({ err: error }, 'could not restore the unservable items to Redis'),
          );
      return { upserted: upserted.length };
    },
  );
}
