import { HealthBody, ReadyBody } from '@elevens/domain';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

export type ReadinessChecks = Record<string, () => Promise<boolean>>;

/** `GET /healthz`: the process is up. `GET /readyz`: every dependency answers (503 otherwise). */
export async function healthRoutes(app: FastifyInstance, options: { checks: ReadinessChecks }) {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  routes.get(
    '/healthz',
    {
      config: { public: true },
      schema: { tags: ['health'], response: { 200: HealthBody } },
      logLevel: 'warn',
    },
    async () => ({ status: 'ok' as const }),
  );
  routes.get(
    '/readyz',
    {
      config: { public: true },
      schema: { tags: ['health'], response: { 200: ReadyBody, 503: ReadyBody } },
      logLevel: 'warn',
    },
    async (_request, reply) => {
      const names = Object.keys(options.checks);
      const results = await Promise.all(names.map((name) => options.checks[name]!()));
      const checks = Object.fromEntries(names.map((name, i) => [name, results[i] ? 'ok' : 'down'] as const));
      const ready = results.every(Boolean);
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unready', checks });
    },
  );
}
