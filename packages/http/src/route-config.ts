import type { ApiScope } from '@elevens/domain';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The API-key scope a route requires; routes without one (health checks, docs) are public. */
    scope?: ApiScope;
  }
}
