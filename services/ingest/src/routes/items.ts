import { upsertItems } from '@elevens/db';
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
      const results = await upsertItems(app.pg, request.body.items);
      const unservable = results.filter((r) => !r.servable).map((r) => r.itemId);
      const servable = results.filter((r) => r.servable).map((r) => r.itemId);
      const pipeline = app.redis.pipeline();
      if (unservable.length > 0) pipeline.sadd(app.keys.catalogUnservable(), ...unservable);
      if (servable.length > 0) pipeline.srem(app.keys.catalogUnservable(), ...servable);
      pipeline.incr(app.keys.catalogVersion());
      await pipeline.exec();
      return { upserted: results.length };
    },
  );
}
