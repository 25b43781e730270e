// The services' wire shapes, from their own schemas. Types only: the client carries no zod at run time, and
// `npm run build` writes this module's declarations out in full (dist/wire.d.ts), so the published package
// needs neither @elevens/domain nor zod.
import type {
  EventInput,
  IngestEventsReply,
  PushDecisionReply,
  PushDecisionRequest,
  RecommendationsQuery,
  RecommendationsReply,
  ReleasePushDecisionReply as ReleasePushDecisionReplySchema,
} from '@elevens/domain';
import type { z } from 'zod';

export type { EventInput, IngestEventsReply, PushDecisionReply, RecommendationsReply };

/** `DELETE /v1/push/decisions/:decisionId` answer. */
export type ReleasePushDecisionReply = z.output<typeof ReleasePushDecisionReplySchema>;

/** `GET /v1/recommendations` query parameters as the service accepts them. */
export type RecommendationsQueryInput = z.input<typeof RecommendationsQuery>;

/** `POST /v1/push/decisions` body as the service accepts it (defaults filled in by the service). */
export type PushDecisionInput = z.input<typeof PushDecisionRequest>;
