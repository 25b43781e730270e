import { BoostRules, BoostRulesQuery, BoostRulesReply, IfMatchHeaders } from '@elevens/domain';
import { errorResponses, HttpError, tagVersion } from '@elevens/http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { changeUnlessStale, versionInForce } from '../if-match';

/** Who made a change, for the stored history: the API key's name and id, or null when keys are not required. */
const callerOf = (request: FastifyRequest): string | null =>
  request.apiKey ? `${request.apiKey.name} (${request.apiKey.id})` : null;

export async function boostRuleRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  // The rules are read or stored: a failed look-up of their items leaves the answer without the report, not a 503.
  const withUnservable = (request: FastifyRequest, rules: BoostRulesReply) =>
    app.boostRules.withUnservable(rules).catch((error: unknown) => {
      request.log.warn({ err: error }, 'could not check the items the boost rules name');
      return rules;
    });
  routes.put(
    '/v1/rules/boosts',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['rules'],
        summary: 'Replace the merchandiser boosts and pins; serving applies them within a second.',
        description:
          'The answer lists in unservableItems the items the rules name that cannot be served (not in the catalog, blocked, unavailable). ' +
          'Send If-Match with the ETag GET answered so a change another marketer saved since is not overwritten: ' +
          'it is then refused with 412 (details.currentVersion names the version in force), nothing stored. ' +
          'Without If-Match the last write wins. The answer carries the new version as ETag.',
        headers: IfMatchHeaders,
        body: BoostRules,
        response: { 200: BoostRulesReply, ...errorResponses(400, 412, 415, 503) },
      },
    },
    async (request, reply) => {
      const stored = await changeUnlessStale(
        request,
        reply,
        'the boost rules',
        versionInForce,
        (ifVersions) => app.boostRules.change(request.body, callerOf(request), ifVersions),
      );
      tagVersion(reply, stored.version);
      return withUnservable(request, stored);
    },
  );
  routes.get(
    '/v1/rules/boosts',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['rules'],
        summary: 'The boosts and pins in force, with their version, author and time.',
        description:
          'The version in force is also answered as ETag, for the If-Match of a PUT. With ?version=N, that earlier stored version (no ETag).',
        querystring: BoostRulesQuery,
        response: { 200: BoostRulesReply, ...errorResponses(400, 404, 503) },
      },
    },
    async (request, reply) => {
      const { version } = request.query;
      if (version !== undefined) {
        const stored = await app.boostRuleStore.atVersion(version);
        if (stored === null)
          throw new HttpError(404, 'not_found', `no boost rules were stored as version ${version}`);
        return withUnservable(request, stored);
      }
      const latest = await app.boostRuleStore.latest();
      tagVersion(reply, latest.version);
      return withUnservable(request, latest);
    },
  );
}
