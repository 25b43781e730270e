import { z } from 'zod';

/** External identifiers (users, items, events, categories) are opaque strings chosen by the storefront. */
export const ExternalId = z.string().min(1).max(128);

/** `ExternalId` checked by hand, for the hot paths' fast checks (which defer to the schemas when unsure). */
export const isExternalId = (value: unknown): value is string =>
  typeof value === 'string' && value.length >= 1 && value.length <= 128;
