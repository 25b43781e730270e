import type {
  EventInput,
  IngestEventsReply,
  PushDecisionInput,
  PushDecisionReply,
  RecommendationsQueryInput,
  RecommendationsReply,
  ReleasePushDecisionReply,
} from './wire';

export type {
  EventInput,
  IngestEventsReply,
  PushDecisionInput,
  PushDecisionReply,
  RecommendationsReply,
  ReleasePushDecisionReply,
};

/**
 * What `recommendations()` takes: the query's input shape, with `exclude` as a list of whole ids (commas
 * included), which the client sends as `exclude` or `excludeItem`.
 */
export type RecommendationsRequest = Omit<RecommendationsQueryInput, 'exclude' | 'excludeItem' | 'limit'> & {
  limit?: number;
  exclude?: readonly string[];
};

/** An event as `track()` takes it; the client assigns `eventId` when it is missing. */
export type TrackedEvent = EventInput;

/** An event with its idempotency key fixed, as queued and (re)sent. */
export type QueuedEvent = EventInput & { eventId: string };

/**
 * What `sendEvents()` answers: the service's answers summed (`rejected` indices into the events given), and the
 * eventIds of those events, in order, the ones the client assigned included.
 */
export type SendEventsReply = IngestEventsReply & { eventIds: string[] };
