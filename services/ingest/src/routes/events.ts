import { randomUUID } from 'node:crypto';
import { recordLiveEvents } from '@elevens/cache';
import { insertEvents } from '@elevens/db';
import { IngestEventsBody, IngestEventsReply, normaliseEvent, type StoredEvent } from '@elevens/domain';
import { errorResponses, HttpError } from '@elevens/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

export async function eventRoutes(app: FastifyInstance) {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/v1/events',
    {
      config: { scope: 'events:write' },
      schema: {
        tags: ['events'],
        summary: 'Record browse, cart and purchase events; answers only after they are committed.',
        body: IngestEventsBody,
        response: { 200: IngestEventsReply, ...errorResponses(400, 413, 415, 503) },
      },
    },
    async (request) => {
      const receivedAt = Date.now();
      const raw =
        'events' in request.body && Array.isArray(request.body.events) ? request.body.events : [request.body];
      const valid: StoredEvent[] = [];
      const rejected: { index: number; error: string }[] = [];
      raw.forEach((candidate, index) => {
        const result = normaliseEvent(candidate, receivedAt, randomUUID);
        if (result.ok) valid.push(result.event);
        else rejected.push({ index, error: result.error });
      });
      if (valid.length === 0) {
        throw new HttpError(400, 'bad_request', 'no valid event in the request', { rejected });
      }
      const { inserted, duplicates } = await insertEvents(app.pg, valid);
      try {
        await recordLiveEvents(app.redis, app.keys, inserted);
      } catch (error) {
        // Postgres already holds these events; the build job and the next events rebuild the live state.
        request.log.warn({ err: error }, 'live state update failed');
      }
      return { accepted: inserted.length, duplicates, rejected };
    },
  );
}
