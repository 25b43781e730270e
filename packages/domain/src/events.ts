import { z } from 'zod';
import { ExternalId, isExternalId, isStorableText } from './ids';

export const EVENT_TYPES = ['view', 'cart', 'remove_cart', 'purchase', 'fav', 'impression', 'click'] as const;
export const EventType = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventType>;

export const MAX_EVENTS_PER_BATCH = 1000;
export const MAX_PROPERTIES_BYTES = 4096;
const MAX_FUTURE_MS = 24 * 60 * 60 * 1000;
/** The largest value `numeric(14, 2)` holds: the price columns of events and items. */
export const MAX_PRICE = 999_999_999_999.99;

/**
 * Events of users without personalization consent are stored under `ANONYMOUS_USER_PREFIX` + a random id per
 * event, so they count towards item popularity but link to no one; client user ids may not use the prefix.
 */
export const ANONYMOUS_USER_PREFIX = '~anon:';

/** True when every key and string inside a JSON value can be stored in jsonb (no NUL, no unpaired surrogate). */
function jsonbSafe(value: unknown): boolean {
  if (typeof value === 'string') return isStorableText(value);
  if (Array.isArray(value)) return value.every(jsonbSafe);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).every(([key, inner]) => isStorableText(key) && jsonbSafe(inner));
  }
  return true;
}

const NOT_AN_INSTANT = 'not a real instant (ISO 8601 with an offset, or whole epoch milliseconds)';
const BEFORE_1970 = 'before 1970-01-01';
const IN_THE_FUTURE = 'more than a day in the future';
/** The largest time a JS Date holds. */
const MAX_TIMESTAMP_MS = 8.64e15;

/** Its pattern checks the calendar too: 2026-02-30 and 2026-13-01 fail, where Date.parse would roll over. */
const IsoTimestamp = z.iso.datetime({ offset: true, error: NOT_AN_INSTANT });

/**
 * Epoch ms of an ISO 8601 timestamp with an offset, as `EventInput` accepts it; NaN for anything else (a local
 * time, a date alone, an impossible date).
 */
export const isoTimestampMs = (text: string): number =>
  IsoTimestamp.safeParse(text).success ? Date.parse(text) : Number.NaN;

/**
 * Why an event time (epoch ms) is refused when the clock reads `nowMs`, or null. Events happen from 1970 on and
 * at most a day ahead of the receiver's clock: a client clock somewhat ahead is tolerated, a wrong year is not.
 * Ingest, the importers and replay share this rule, so a stored time is always a real, finite instant.
 */
export function eventTimeProblem(timestampMs: number, nowMs: number): string | null {
  if (Number.isNaN(timestampMs)) return NOT_AN_INSTANT;
  if (timestampMs < 0) return BEFORE_1970;
  if (timestampMs > nowMs + MAX_FUTURE_MS) return IN_THE_FUTURE;
  return null;
}

/**
 * ISO 8601 with offset, or epoch milliseconds; normalised to epoch milliseconds from 1970 on. The bound in the
 * future depends on the receive time, so `normaliseEvent` checks it.
 */
export const EventTimestamp = z
  .union(
    [
      IsoTimestamp,
      z
        .number({ error: NOT_AN_INSTANT })
        .int({ error: NOT_AN_INSTANT })
        .min(0, { error: BEFORE_1970 })
        .max(MAX_TIMESTAMP_MS, { error: IN_THE_FUTURE }),
    ],
    { error: NOT_AN_INSTANT },
  )
  .transform((value) => (typeof value === 'number' ? value : Date.parse(value)))
  .refine((timestampMs) => timestampMs >= 0, { error: BEFORE_1970 });

const MAX_QUANTITY = 1_000_000;

/** Nesting of `properties` accepted; the size check and the storability check walk it recursively. */
export const MAX_PROPERTIES_DEPTH = 32;

/** Whether `value` nests objects and arrays at most `depth` deep, without recursing past that. */
function nestsAtMost(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (depth === 0) return false;
  const inner = Array.isArray(value) ? value : Object.values(value);
  return inner.every((v) => nestsAtMost(v, depth - 1));
}

const EventProperties = z
  .record(z.string(), z.unknown())
  // First, and the end of the checks when it fails: a body of 10,000 nested arrays overflowed the stack of the
  // size check below (a 500 instead of a 400).
  .refine((value) => nestsAtMost(value, MAX_PROPERTIES_DEPTH), {
    message: `properties must nest at most ${MAX_PROPERTIES_DEPTH} levels deep`,
    abort: true,
  })
  .refine((value) => Buffer.byteLength(JSON.stringify(value)) <= MAX_PROPERTIES_BYTES, {
    message: `properties must be at most ${MAX_PROPERTIES_BYTES} bytes of JSON`,
  })
  .refine(jsonbSafe, { message: 'properties must not contain NUL characters or unpaired surrogates' });

/** One event as a client sends it. Defaults that depend on the receive time are applied by `normaliseEvent`. */
export const EventInput = z
  .object({
    eventId: ExternalId.optional().meta({
      description: 'Idempotency key: a resend with the same id is stored once.',
    }),
    userId: ExternalId.refine((s) => !s.startsWith(ANONYMOUS_USER_PREFIX), {
      message: `must not start with ${ANONYMOUS_USER_PREFIX}`,
    }),
    itemId: ExternalId,
    type: EventType,
    timestamp: EventTimestamp.optional().meta({
      description:
        'ISO 8601 with an offset, or epoch ms; from 1970 on, at most a day ahead of the receive time; ' +
        'default: receive time.',
    }),
    sessionId: ExternalId.optional(),
    recommendationId: ExternalId.optional(),
    quantity: z.number().int().min(1).max(MAX_QUANTITY).optional(),
    price: z.number().min(0).max(MAX_PRICE).optional(),
    properties: EventProperties.optional(),
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

/**
 * Validates one event against the schema and the receive time; `newEventId` supplies ids for events without one.
 * Events that `storedFast` vouches for skip the zod parse (several times its cost); every other event, and so
 * every error message, goes through `EventInput`.
 */
export function normaliseEvent(
  raw: unknown,
  receivedAtMs: number,
  newEventId: () => string,
): EventValidation {
  const fast = storedFast(raw, receivedAtMs, newEventId);
  return fast === null ? normaliseEventBySchema(raw, receivedAtMs, newEventId) : { ok: true, event: fast };
}

/** `normaliseEvent` through the `EventInput` schema alone: what the hand-checked fast path must agree with. */
export function normaliseEventBySchema(
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
  const timeProblem = eventTimeProblem(timestampMs, receivedAtMs);
  if (timeProblem !== null) return { ok: false, error: `timestamp: ${timeProblem}` };
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

const EVENT_TYPE_SET: ReadonlySet<unknown> = new Set(EVENT_TYPES);

const isOptionalExternalId = (value: unknown): value is string | undefined =>
  value === undefined || isExternalId(value);

const hasOwnProto = (value: unknown) =>
  typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__');

/**
 * The stored event for an event that certainly passes `EventInput` and the receive-time rules, checked by hand;
 * else null (the event may still be valid: `normaliseEvent` lets the schema decide). The parts whose rules are
 * not restated here (ISO timestamps, properties) are checked with the schema's own pieces.
 */
function storedFast(raw: unknown, receivedAtMs: number, newEventId: () => string): StoredEvent | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const {
    eventId,
    userId,
    itemId,
    type,
    timestamp,
    sessionId,
    recommendationId,
    quantity,
    price,
    properties,
  } = raw as Record<string, unknown>;
  if (
    !isOptionalExternalId(eventId) ||
    !isExternalId(userId) ||
    userId.startsWith(ANONYMOUS_USER_PREFIX) ||
    !isExternalId(itemId) ||
    !EVENT_TYPE_SET.has(type) ||
    !isOptionalExternalId(sessionId) ||
    !isOptionalExternalId(recommendationId) ||
    !(
      quantity === undefined ||
      (Number.isSafeInteger(quantity) && (quantity as number) >= 1 && (quantity as number) <= MAX_QUANTITY)
    ) ||
    !(price === undefined || (typeof price === 'number' && price >= 0 && price <= MAX_PRICE))
  ) {
    return null;
  }
  let timestampMs = receivedAtMs;
  if (typeof timestamp === 'number') {
    if (!Number.isSafeInteger(timestamp) || timestamp < 0 || timestamp > MAX_TIMESTAMP_MS) return null;
    timestampMs = timestamp;
  } else if (typeof timestamp === 'string') {
    timestampMs = isoTimestampMs(timestamp);
  } else if (timestamp !== undefined) return null;
  if (eventTimeProblem(timestampMs, receivedAtMs) !== null) return null;
  // The schema's copy of properties drops an own `__proto__` key (assigning it sets the copy's prototype).
  if (properties !== undefined && (hasOwnProto(properties) || !EventProperties.safeParse(properties).success))
    return null;
  return {
    eventId: eventId ?? newEventId(),
    userId,
    itemId,
    type: type as EventType,
    timestampMs,
    sessionId: sessionId ?? null,
    recommendationId: recommendationId ?? null,
    quantity: (quantity as number | undefined) ?? null,
    price: price ?? null,
    properties: (properties as Record<string, unknown> | undefined) ?? null,
  };
}

/**
 * `{ events: [...] }` with 1–1000 events, or one event object. Each event is validated on its own (by
 * `normaliseEvent`), so one bad event does not reject its batch; only the envelope is checked here. The OpenAPI
 * documents show `IngestEventsBodyAsDocumented` in its place.
 */
export const IngestEventsBody = z.record(z.string(), z.unknown()).superRefine((body, ctx) => {
  if (!('events' in body)) return;
  const { events } = body;
  if (!Array.isArray(events) || events.length < 1 || events.length > MAX_EVENTS_PER_BATCH) {
    ctx.addIssue({
      code: 'custom',
      path: ['events'],
      message: `expected an array of 1–${MAX_EVENTS_PER_BATCH} events`,
    });
  }
});

/** What a client should send to `POST /v1/events`, for the documents: `IngestEventsBody` checks it in parts. */
const IngestEventsBodyAsDocumented = z
  .union([z.object({ events: z.array(EventInput).min(1).max(MAX_EVENTS_PER_BATCH) }), EventInput])
  .meta({
    description:
      `A batch \`{ "events": [EventInput, …] }\` (1–${MAX_EVENTS_PER_BATCH}) or a single EventInput object. ` +
      'Each event is checked on its own: the valid ones are stored and the others listed in `rejected` with ' +
      'why, so one bad event does not fail its batch.',
    examples: [
      {
        events: [
          { eventId: 'e1', userId: 'u1', itemId: 'i1', type: 'view', timestamp: '2026-11-11T00:00:01Z' },
          { eventId: 'e2', userId: 'u1', itemId: 'i1', type: 'purchase', quantity: 1, price: 19.99 },
        ],
      },
      { userId: 'u1', itemId: 'i2', type: 'cart' },
    ],
  });

const DOCUMENTED_BODIES = new Map<unknown, z.ZodType>([[IngestEventsBody, IngestEventsBodyAsDocumented]]);

/**
 * The schema the OpenAPI documents show for a route's body schema, when it is not the body schema itself: for
 * bodies checked more loosely than a client should send them, on purpose. Validation always uses the route's own.
 */
export const documentedBodyOf = (body: unknown): z.ZodType | undefined => DOCUMENTED_BODIES.get(body);

export type IngestEventsBody = z.infer<typeof IngestEventsBody>;

/** The events of a request body that passed `IngestEventsBody`: the batch, or the one event. */
export const eventsOfBody = (body: IngestEventsBody): unknown[] =>
  Array.isArray(body.events) ? body.events : [body];

export const IngestEventsReply = z
  .object({
    accepted: z.number().int(),
    duplicates: z.number().int(),
    rejected: z.array(z.object({ index: z.number().int(), error: z.string() })),
  })
  .meta({ id: 'IngestEventsReply' });
export type IngestEventsReply = z.infer<typeof IngestEventsReply>;
