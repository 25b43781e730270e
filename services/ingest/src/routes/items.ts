import { randomUUID } from 'node:crypto';
import { UpsertItemsBody, UpsertItemsReply } from '@elevens/domain';
import { errorResponses } from '@elevens/http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

/**
 * Copies the committed unservable items to Redis again, after a write failed once its change may be in the copy
 * (its commit cut off, say): an unblock Postgres does not hold would otherwise serve a blocked item. When this
 * fails too, the write's unconfirmed mark has an api's poll do it after a grace (committed-copy.ts in the api).
 */
async function copyCommittedAgain(app: FastifyInstance, log: FastifyBaseLogger) {
  const recopy = () =>
    app.catalogItems
      .withCommittedUnservable(app.unservableItems, true, (committed) => committed.restore())
      .then(
        () => true,
        (error: unknown) => {
          log.warn({ err: error }, 'could not copy the stored unservable items to Redis again');
          return false;
        },
      );
  // What cut the write's connection may have ended the pool's idle ones too, unheard until their end is read:
  // once the pending I/O is read the pool has let them go, so a second try gets a live connection or opens one.
  if (!(await recopy())) {
    await new Promise((resolve) => setImmediate(resolve));
    await recopy();
  }
}

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
      let changeId: string | null = null;
      const { upserted, copied } = await app.catalogItems
        .upsert(request.body.items, app.unservableItems, () => {
          changeId = randomUUID();
          return changeId;
        })
        .catch(async (error: unknown) => {
          if (changeId !== null) await copyCommittedAgain(app, request.log);
          throw error;
        });
      // Stored: a mark left by a failed confirmation only costs a restore of the same set.
      if (changeId !== null)
        await app.unservableItems
          .confirm(changeId)
          .catch((error: unknown) =>
            request.log.warn({ err: error }, 'could not confirm a stored catalog write in Redis'),
          );
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
