import { withTransaction } from '@elevens/db';
import { BoostRules, BoostRulesReply } from '@elevens/domain';
import { errorResponses, unavailable } from '@elevens/http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { latestBoostRules } from '../plugins/boost-rules';

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
    async (request) => {
      const { boosts, pins } = request.body;
      const updatedBy = callerOf(request);
      // One writer at a time, and Redis written before the commit: versions reach the mirror in order, and a
      // version that could not be mirrored is not stored either.
      return withTransaction(app.pg, async (client) => {
        await client.query("SELECT pg_advisory_xact_lock(hashtext('elevens.boost_rules'))");
        const { rows } = await client.query<{ version: number; updated_at: Date }>(
          `INSERT INTO boost_rules (boosts, pins, updated_by) VALUES ($1::jsonb, $2::jsonb, $3)
           RETURNING version, updated_at`,
          [JSON.stringify(boosts), JSON.stringify(pins), updatedBy],
        );
        const stored: BoostRulesReply = {
          version: rows[0]!.version,
          boosts,
          pins,
          updatedBy,
          updatedAt: rows[0]!.updated_at.toISOString(),
        };
        const results = await app.redis
          .multi()
          .set(app.keys.rulesBoosts(), JSON.stringify(stored))
          .set(app.keys.rulesBoostsVersion(), String(stored.version))
          .exec()
          .catch(() => null);
        if (!results || results.some(([error]) => error))
          throw unavailable('could not mirror the rules to Redis; nothing was changed');
        return stored;
      });
    },
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
    async () => latestBoostRules(app),
  );
}
