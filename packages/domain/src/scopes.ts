// Imports nothing: the CLI offers these as choices on every start without loading zod (auth.ts builds the schema).

/** What an API key may do. Every route except health checks requires one of these. */
export const API_SCOPES = ['recommendations:read', 'events:write', 'push:decide', 'admin'] as const;
