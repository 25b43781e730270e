import { randomUUID } from 'node:crypto';
import { EventWriteOutcomeUnknown, type InsertEventsResult } from '@elevens/db';
import {
  eventsOfBody,
  IngestEventsBody,
  IngestEventsReply,
  MAX_EVENTS_PER_BATCH,
  normaliseEvent,
  type StoredEvent,
} from '@elevens/domain';
import { errorResponses, HttpError, stringifyReply, unavailable, withFastBody } from '@elevens/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { GroupCommitBacklogFull } from '../group-commit';

/** SQLSTATE classes 22 (data exception) and 23 (integrity violation): the data, not the server, is at fault. */
const isDataError = (error: unknown) => /^2[23]/.test(String((error as { code?: unknown }).code ?? ''));

/** Why an event older than the cut-off of `elevens events prune` is refused (`beforePruneCutOff`). */
const beforePruneCutOff = (cutOffMs: number) =>
  `timestamp: before ${new Date(cutOffMs).toISOString()}, where the stored events were pruned (a resend of a pruned event would be stored again)`;

/** The answer to a request none of whose events can be stored. */
function noValidEvent(rejected: readonly { index: number; error: string }[]): HttpError {
  const first = rejected[0]!;
  return new HttpError(
    400,
    'bad_request',
    `no valid event in the request (event ${first.index}: ${first.error})`,
    {
      rejected,
    },
  );
}

/**
 * The body for bodies that certainly pass `IngestEventsBody` unchanged (an object whose `events`, when present, is
 * an array of 1–1000), else null: the schema then decides and words the error. Each event is checked later on its
 * own. An own `__proto__` key is left to the schema, whose copy of the body drops it (the JSON parser refuses such
 * bodies before either runs).
 */
export function ingestEventsBodyFast(raw: unknown): IngestEventsBody | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || Object.hasOwn(raw, '__proto__'))
    return null;
  if (!('events' in raw)) return raw as IngestEventsBody;
  const { events } = raw;
  return Array.isArray(events) && events.length >= 1 && events.length <= MAX_EVENTS_PER_BATCH
    ? (raw as IngestEventsBody)
    : null;
}

export interface EventRoutesOptions {
  /** stamps each request's receive time (epoch ms): the default timestamp and the base of the future bound */
  now: () => number;
}

export async function eventRoutes(app: FastifyInstance, { now }: EventRoutesOptions) {
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
      validatorCompiler: withFastBody(ingestEventsBodyFast),
      serializerCompiler: stringifyReply,
    },
    async (request) => {
      const receivedAt = now();
      const valid: StoredEvent[] = [];
      /** the index in the body of each valid event */
      const validIndex: number[] = [];
      let rejected: { index: number; error: string }[] = [];
      eventsOfBody(request.body).forEach((candidate, index) => {
        const result = normaliseEvent(candidate, receivedAt, randomUUID);
        if (result.ok) {
          valid.push(result.event);
          validIndex.push(index);
        } else rejected.push({ index, error: result.error });
      });
      // A body holds at least one event.
      if (valid.length === 0) throw noValidEvent(rejected);
      let written: InsertEventsResult;
      try {
        written = await app.eventWriter.submit(valid);
      } catch (error) {
        // Postgres is behind: the client retries later instead of waiting in a queue that answers no one sooner.
        if (error instanceof GroupCommitBacklogFull)
          throw unavailable('ingest is behind on writing events, retry shortly');
        if (isDataError(error)) {
          throw new HttpError(
            400,
            'bad_request',
            `the database refused the events: ${(error as Error).message}`,
          );
        }
        request.log.error({ err: error }, 'event write failed');
        if (error instanceof EventWriteOutcomeUnknown) {
          // Stored or not: a resend finds them stored if they are, and counts them as duplicates, never applied.
          request.log.error(
            { events: valid.length, users: new Set(valid.map((e) => e.userId)).size },
            'events may be stored without their live state: run elevens events rebuild-live-state --since 1h once Postgres answers',
          );
        }
        throw unavailable('events could not be stored, retry shortly', { cause: error });
      }
      const { inserted, duplicates, beforePruneCutOff: refused } = written;
      if (refused.length > 0) {
        rejected = [
          ...rejected,
          ...refused.map(({ index, cutOffMs }) => ({
            index: validIndex[index]!,
            error: beforePruneCutOff(cutOffMs),
          })),
        ].sort((a, b) => a.index - b.index);
        if (refused.length === valid.length) throw noValidEvent(rejected);
      }
      app.metrics.recordEvents(inserted);
      return { accepted: inserted.length, duplicates, rejected };
    },
  );
}
