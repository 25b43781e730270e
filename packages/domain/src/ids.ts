import { z } from 'zod';

/** External identifiers (users, items, events, categories) are opaque strings chosen by the storefront. */
export const ExternalId = z.string().min(1).max(128);
