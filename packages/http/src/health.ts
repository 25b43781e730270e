import { ErrorBody, HealthBody, ReadyBody } from '@elevens/domain';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { within } from './within';

/**
 * A health route's 503: its own body, or the ErrorBody createBaseApp's onRequest hook answers to a request that
 * arrives while the app closes (it goes through this route's serializer too).
 */
const unavailable = <Body extends z.ZodType>(body: Body, when: string) =>
  z.union([body, ErrorBody]).meta({
    description: `${when}; or an ErrorBody \`unavailable\` (with a Retry-After): the process is closing.`,
  });

export type ReadinessChecks = Record<string, () => Promise<boolean>>;

/** Below the load balancer's check timeout (docker/haproxy.cfg: 2 s), so /readyz still names the store. */
const CHECK_TIMEOUT_MS = 1_000;

/**
 * The check's answer, or false once `timeoutMs` has passed: a store that keeps its connection but answers
 * nothing (stopped, partitioned) would otherwise hold /readyz until the prober gives up, naming no store. A check
 * that throws is down too: its error would make /readyz a 500 naming no store.
 */
async function answerWithin(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const answer = Promise.resolve()
    .then(check)
    .catch(() => false);
  return (await within(answer, timeoutMs)) === true;
}

/**
 * `GET /healthz`: the process is up. `GET /readyz`: every dependency answers within `timeoutMs` (default 1 s;
 * 503 otherwise). Both answer 503 `draining` once the process is stopping, so a load balancer takes it out while
 * it still serves; once the app closes, createBaseApp answers them 503 in the ErrorBody shape.
 */
export async function healthRoutes(
  app: FastifyInstance,
  options: { checks: ReadinessChecks; timeoutMs?: number },
) {
  const timeoutMs = options.timeoutMs ?? CHECK_TIMEOUT_MS;
  const routes = app.withTypeProvider<ZodTypeProvider>();
  routes.get(
    '/healthz',
    {
      config: { public: true },
      schema: {
        tags: ['health'],
        response: {
          200: HealthBody,
          503: unavailable(HealthBody, 'status draining: the process is stopping'),
        },
      },
      logLevel: 'warn',
    },
    async (_request, reply) =>
      app.lifecycle.draining ? reply.code(503).send({ status: 'draining' }) : reply.send({ status: 'ok' }),
  );
  routes.get(
    '/readyz',
    {
      config: { public: true },
      schema: {
        tags: ['health'],
        response: {
          200: ReadyBody,
          503: unavailable(ReadyBody, 'status unready (a check names the store) or draining'),
        },
      },
      logLevel: 'warn',
    },
    async (_request, reply) => {
      if (app.lifecycle.draining) return reply.code(503).send({ status: 'draining', checks: {} });
      const names = Object.keys(options.checks);
      const results = await Promise.all(names.map((name) => answerWithin(options.checks[name]!, timeoutMs)));
      const checks = Object.fromEntries(names.map((name, i) => [name, results[i] ? 'ok' : 'down'] as const));
      const ready = results.every(Boolean);
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unready', checks });
    },
  );
}
