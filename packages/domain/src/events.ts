import { z } from 'zod';
import { ExternalId } from './ids';

export const EVENT_TYPES = ['view', 'cart', 'remove_cart', 'purchase', 'fav', 'impression', 'click'] as const;
export const EventType = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventType>;

export const MAX_EVENTS_PER_BATCH = 1000;
export const MAX_PROPERTIES_BYTES = 4096;
const MAX_FUTURE_MS = 24 * 60 * 60 * 1000;

/** ISO 8601 with offset, or epoch milliseconds; normalised to epoch milliseconds. */
export const EventTimestamp = z
  .union([z.iso.datetime({ offset: true }), z.number().int().min(0).max(8.64e15)])
  .transform((value) => (typeof value === 'number' ? value : Date.parse(value)));

/** One event as a client sends it. Defaults that depend on the receive time are applied by `normaliseEvent`. */
export const EventInput = z
  .object({
    eventId: ExternalId.optional().meta({
      description: 'Idempotency key: a resend with the same id is stored once.',
    }),
    userId: ExternalId,
    itemId: ExternalId,
    type: EventType,
    timestamp: EventTimestamp.optional().meta({
      description: 'ISO 8601 or epoch ms; default: receive time.',
    }),
    sessionId: ExternalId.optional(),
    recommendationId: ExternalId.optional(),
    quantity: z.number().int().min(1).max(1_000_000).optional(),
    price: z.number().min(0).max(1e12).optional(),
    properties: z
      .record(z.string(), z.unknown())
      .refine((value) => Buffer.byteLength(JSON.stringify(value)) <= MAX_PROPERTIES_BYTES, {
        message: `properties must be at most ${MAX_PROPERTIES_BYTES} bytes of JSON`,
      })
      .optional(),
  })
  .meta({ id: 'EventInput' });
export type EventInput = z.input<typeof EventInput>;
export type ParsedEventInput = z.output<typeof EventInput>;

/** An event ready to store: every field that has a server-side default is filled in. */
export interface StoredEvent {
  eventId: string;
  userId: string;
  itemId: string;
  type: EventType;
  timestampMs: number;
  sessionId: string | null;
  recommendationId: string | null;
  quantity: number | null;
  price: number | null;
  properties: Record<string, unknown> | null;
}

export type EventValidation = { ok: true; event: StoredEvent } | { ok: false; error: string };

/** Validates one event against the schema and the receive time; `newEventId` supplies ids for events without one. */
export function normaliseEvent(
  raw: unknown,
  receivedAtMs: number,
  newEventId: () => string,
): EventValidation {
  const parsed = EventInput.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      error: parsed.error.issues.map((i) => `${i.path.join('.') || 'event'}: ${i.message}`).join('; '),
    };
  }
  const e = parsed.data;
  const timestampMs = e.timestamp ?? receivedAtMs;
  if (Number.isNaN(timestampMs)) return { ok: false, error: 'timestamp: not a valid date' };
  if (timestampMs > receivedAtMs + MAX_FUTURE_MS) {
    return { ok: false, error: 'timestamp: more than 24 hours in the future' };
  }
  return {
    ok: true,
    event: {
      eventId: e.eventId ?? newEventId(),
      userId: e.userId,
      itemId: e.itemId,
      type: e.type,
      timestampMs,
      sessionId: e.sessionId ?? null,
      recommendationId: e.recommendationId ?? null,
      quantity: e.quantity ?? null,
      price: e.price ?? null,
      properties: e.properties ?? null,
    },
  };
}

/** `{ events: [...] }` with 1–1000 events, or one event object. Each event is validated on its own. */
export const IngestEventsBody = z
  .union([
    z.object({ events: z.array(z.unknown()).min(1).max(MAX_EVENTS_PER_BATCH) }),
    z.record(z.string(), z.unknown()),
  ])
  .meta({
    description: 'A batch `{ "events": [EventInput, …] }` (1–1000) or a single EventInput object.',
  });
export type IngestEventsBody = z.infer<typeof IngestEventsBody>;

export const IngestEventsReply = z
  .object({
    accepted: z.number().int(),
    duplicates: z.number().int(),
    rejected: z.array(z.object({ index: z.number().int(), error: z.string() })),
  })
  .meta({ id: 'IngestEventsReply' });
export type IngestEventsReply = z.infer<typeof IngestEventsReply>;
