import { z } from 'zod';

/** The longest external identifier, in UTF-16 code units. */
export const MAX_EXTERNAL_ID_LENGTH = 128;

const NUL = String.fromCharCode(0);
/** As a pattern, so the OpenAPI documents show it. */
const WITHOUT_NUL = /^[^\0]*$/;
const NUL_MESSAGE = 'must not contain NUL characters';
/**
 * An unpaired UTF-16 surrogate (`"\ud800"` in JSON). UTF-8, which Postgres, Redis and our replies speak, cannot
 * carry one: it would be stored as U+FFFD, so two ids that differ only there would be one id.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATE_MESSAGE = 'must not contain unpaired UTF-16 surrogates';

/** Whether Postgres (text and jsonb) and Redis store `text` exactly as sent: no NUL, no unpaired surrogate. */
export const isStorableText = (text: string): boolean => !text.includes(NUL) && !LONE_SURROGATE.test(text);

/**
 * Text stored as the client sent it (titles, tags), refused when it could not be: each check aborts, so a bound
 * added after it does not report the same value again.
 */
export const StoredText = z
  .string()
  .regex(WITHOUT_NUL, { message: NUL_MESSAGE, abort: true })
  .refine((s) => !LONE_SURROGATE.test(s), { message: LONE_SURROGATE_MESSAGE, abort: true });

/**
 * External identifiers (users, items, events, categories, campaigns) are opaque strings chosen by the storefront.
 * Every route takes them by this one rule, in bodies, paths and query strings alike: 1–128 characters without NUL
 * (Postgres text cannot hold it, so an id with one could be served from Redis but never stored) or an unpaired
 * surrogate. Both checks abort, so schemas that refine an id further do not report the same problem again.
 */
export const ExternalId = z
  .string()
  .min(1)
  .max(MAX_EXTERNAL_ID_LENGTH)
  .regex(WITHOUT_NUL, { message: NUL_MESSAGE, abort: true })
  .refine((s) => !LONE_SURROGATE.test(s), { message: LONE_SURROGATE_MESSAGE, abort: true });

/** `ExternalId` checked by hand, for the hot paths' fast checks (which defer to the schemas when unsure). */
export const isExternalId = (value: unknown): value is string =>
  typeof value === 'string' &&
  value.length >= 1 &&
  value.length <= MAX_EXTERNAL_ID_LENGTH &&
  isStorableText(value);
