import { z } from 'zod';

/** The longest external identifier, in UTF-16 code units. */
export const MAX_EXTERNAL_ID_LENGTH = 128;

const NUL = String.fromCharCode(0);

/**
 * External identifiers (users, items, events, categories, campaigns) are opaque strings chosen by the storefront.
 * Every route takes them by this one rule, in bodies, paths and query strings alike: 1–128 characters without
 * NUL (Postgres text cannot hold it, so an id with one could be served from Redis but never stored).
 * The NUL check aborts, so schemas that refine an id further do not report the same NUL again.
 */
export const ExternalId = z
  .string()
  .min(1)
  .max(MAX_EXTERNAL_ID_LENGTH)
  .regex(/^[^\0]*$/, { message: 'must not contain NUL characters', abort: true });

/** `ExternalId` checked by hand, for the hot paths' fast checks (which defer to the schemas when unsure). */
export const isExternalId = (value: unknown): value is string =>
  typeof value === 'string' &&
  value.length >= 1 &&
  value.length <= MAX_EXTERNAL_ID_LENGTH &&
  !value.includes(NUL);
