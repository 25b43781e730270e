import { BoostRules, BoostRulesReply } from '@elevens/domain';
import { errorResponses } from '@elevens/http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

/** Who made a change, for the stored history: the API key's name and id, or null when keys are not required. */
const callerOf = (request: FastifyRequest): string | null =>
  request.apiKey ? `${request.apiKey.name} (${request.apiKey.id})` : null;

export async function boostRuleRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  routes.put(
    '/v1/rules/boosts',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['rules'],
        summary: 'Replace the merchandiser boosts and pins; serving applies them within a second.',
        body: BoostRules,
        response: { 200: BoostRulesReply, ...errorResponses(400, 415, 503) },
      },
    },
    async (request) => app.boostRules.change(request.body, callerOf(request)),
  );
  routes.get(
    '/v1/rules/boosts',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['rules'],
        summary: 'The boosts and pins in force, with their version, author and time.',
        response: { 200: BoostRulesReply, ...errorResponses(503) },
      },
    },
    async () => app.boostRuleStore.latest(),
  );
}
