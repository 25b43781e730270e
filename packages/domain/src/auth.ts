import { z } from 'zod';

/** What an API key may do. Every route except health checks requires one of these. */
export const API_SCOPES = ['recommendations:read', 'events:write', 'push:decide', 'admin'] as const;
export const ApiScope = z.enum(API_SCOPES);
export type ApiScope = z.infer<typeof ApiScope>;
