import type { ApiScope } from '@elevens/domain';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The API-key scope a route requires (`admin` keys hold every scope). */
    scope?: ApiScope;
    /**
     * Opts a route out of API keys (health checks, docs, metrics, static pages). A route with neither `scope`
     * nor `public: true` is refused to everyone, so forgetting to declare a scope never opens a route.
     */
    public?: boolean;
  }
}
