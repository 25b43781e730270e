import { StaleBoostRulesVersion } from '@elevens/db';
import {
  BoostRules,
  BoostRulesPutHeaders,
  BoostRulesQuery,
  BoostRulesReply,
  ifMatchVersions,
} from '@elevens/domain';
import { errorResponses, HttpError } from '@elevens/http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

/** Who made a change, for the stored history: the API key's name and id, or null when keys are not required. */
const callerOf = (request: FastifyRequest): string | null =>
  request.apiKey ? `${request.apiKey.name} (${request.apiKey.id})` : null;

/** The version in force as an entity tag, for a client's next If-Match. */
const tagVersion = (reply: FastifyReply, version: number) => reply.header('etag', `"${version}"`);

export async function boostRuleRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  routes.put(
    '/v1/rules/boosts',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['rules'],
        summary: 'Replace the merchandiser boosts and pins; serving applies them within a second.',
        description:
          'Send If-Match with the ETag GET answered so a change another marketer saved since is not overwritten: ' +
          'it is then refused with 412 (details.currentVersion names the version in force), nothing stored. ' +
          'Without If-Match the last write wins. The answer carries the new version as ETag.',
        headers: BoostRulesPutHeaders,
        body: BoostRules,
        response: { 200: BoostRulesReply, ...errorResponses(400, 412, 415, 503) },
      },
    },
    async (request, reply) => {
      const ifVersions = ifMatchVersions(request.headers['if-match']);
      try {
        const stored = await app.boostRules.change(request.body, callerOf(request), ifVersions);
        tagVersion(reply, stored.version);
        return stored;
      } catch (error) {
        if (!(error instanceof StaleBoostRulesVersion)) throw error;
        const { currentVersion } = error;
        tagVersion(reply, currentVersion);
        throw new HttpError(
          412,
          'precondition_failed',
          `the boost rules changed since If-Match: ${request.headers['if-match']} was read: version ${currentVersion} is in force and nothing was stored; GET them again, redo the change and send it with If-Match: "${currentVersion}"`,
          { currentVersion },
        );
      }
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
        return stored;
      }
      const latest = await app.boostRuleStore.latest();
      tagVersion(reply, latest.version);
      return latest;
    },
  );
}
