import {
  DeletePushRuleReply,
  PushRuleBody,
  PushRuleParams,
  PushRulesReply,
  PushRuleVersionsReply,
  PushRuleView,
  QuietHoursBody,
  QuietHoursVersionsReply,
  QuietHoursView,
} from '@elevens/domain';
import { errorResponses, HttpError } from '@elevens/http';
import { parseWindow } from '@elevens/push-rules';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

/** Who made a change, for the version history: the API key's name, 'unknown' when keys are not checked. */
const authorOf = (request: FastifyRequest): string => request.apiKey?.name ?? 'unknown';

/** Marketer rules and quiet hours: Postgres keeps them with their history, Redis serves them. */
export async function pushRuleRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.put(
    '/v1/push/rules/:ruleId',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['push'],
        summary: 'Create or replace a frequency rule; decisions apply it within a second.',
        params: PushRuleParams,
        body: PushRuleBody,
        response: { 200: PushRuleView, ...errorResponses(400, 415, 503) },
      },
    },
    async (request) => {
      try {
        parseWindow(request.body.window);
      } catch (error) {
        throw new HttpError(400, 'bad_request', `body.window: ${(error as Error).message}`);
      }
      return app.pushConfig.change((change) =>
        change.upsertRule(request.params.ruleId, request.body, authorOf(request)),
      );
    },
  );

  routes.get(
    '/v1/push/rules',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['push'],
        summary: 'Every frequency rule and the quiet hours, as stored.',
        response: { 200: PushRulesReply, ...errorResponses(503) },
      },
    },
    async () => app.pushConfigStore.load(),
  );

  routes.get(
    '/v1/push/rules/:ruleId/versions',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['push'],
        summary: "A rule's history: every version with its author and time, newest first.",
        params: PushRuleParams,
        response: { 200: PushRuleVersionsReply, ...errorResponses(400, 404, 503) },
      },
    },
    async (request) => {
      const versions = await app.pushConfigStore.ruleVersions(request.params.ruleId);
      if (versions.length === 0) throw new HttpError(404, 'not_found', `no rule ${request.params.ruleId}`);
      return { ruleId: request.params.ruleId, versions };
    },
  );

  routes.delete(
    '/v1/push/rules/:ruleId',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['push'],
        summary: 'Delete a frequency rule (its history stays).',
        params: PushRuleParams,
        response: { 200: DeletePushRuleReply, ...errorResponses(400, 404, 503) },
      },
    },
    async (request) => {
      const deleted = await app.pushConfig.change(
        (change) => change.deleteRule(request.params.ruleId, authorOf(request)),
        (found) => !found,
      );
      if (!deleted) throw new HttpError(404, 'not_found', `no rule ${request.params.ruleId}`);
      return { ruleId: request.params.ruleId, deleted };
    },
  );

  routes.put(
    '/v1/push/quiet-hours',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['push'],
        summary: "Set the quiet hours, in each user's own time zone; decisions apply them within a second.",
        body: QuietHoursBody,
        response: { 200: QuietHoursView, ...errorResponses(400, 415, 503) },
      },
    },
    async (request) =>
      app.pushConfig.change((change) => change.setQuietHours(request.body, authorOf(request))),
  );

  routes.get(
    '/v1/push/quiet-hours',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['push'],
        summary: 'The quiet hours in force and their history, newest first.',
        response: { 200: QuietHoursVersionsReply, ...errorResponses(503) },
      },
    },
    async () => {
      const versions = await app.pushConfigStore.quietHoursVersions();
      return { current: versions[0] ?? null, versions };
    },
  );
}
