// Types only: the client carries no zod at run time; the wire shapes come from the services' own schemas.
import type {
  EventInput,
  IngestEventsReply,
  PushDecisionReply,
  PushDecisionRequest,
  RecommendationsQuery,
  RecommendationsReply,
} from '@elevens/domain';
import type { z } from 'zod';

export type { EventInput, IngestEventsReply, PushDecisionReply, RecommendationsReply };

/** What `recommendations()` takes: the query's input shape, with `exclude` as a list. */
export type RecommendationsRequest = Omit<z.input<typeof RecommendationsQuery>, 'exclude' | 'limit'> & {
  limit?: number;
  exclude?: readonly string[];
};

/** What `decidePush()` takes: the request's input shape (defaults filled in by the service). */
export type PushDecisionInput = z.input<typeof PushDecisionRequest>;

/** An event as `track()` takes it; the client assigns `eventId` when it is missing. */
export type TrackedEvent = EventInput;

/** An event with its idempotency key fixed, as queued and (re)sent. */
export type QueuedEvent = EventInput & { eventId: string };
