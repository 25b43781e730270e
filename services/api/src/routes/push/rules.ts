import {
  DeletePushRuleReply,
  IfMatchHeaders,
  PushRuleBody,
  PushRuleParams,
  PushRulesReply,
  PushRuleVersionsReply,
  PushRuleView,
  QuietHoursBody,
  QuietHoursVersionsReply,
  QuietHoursView,
  VersionsQuery,
} from '@elevens/domain';
import { errorResponses, HttpError, tagVersion } from '@elevens/http';
import { parseWindow } from '@elevens/push-rules';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { changeUnlessStale, versionInForce } from '../../if-match';

/** Who made a change, for the version history: the API key's name, 'unknown' when keys are not checked. */
const authorOf = (request: FastifyRequest): string => request.apiKey?.name ?? 'unknown';

const IF_MATCH_RULE =
  'Send If-Match with the ETag GET /v1/push/rules/{ruleId} answered (or the rule\'s version from GET /v1/push/rules; "0" while no rule of that id exists) ' +
  'so a change another marketer saved since is not overwritten: it is then refused with 412 (details.currentVersion names the version in force, 0: no such rule), nothing stored. ' +
  'Without If-Match the last write wins.';

const ruleInForce = (ruleId: string) => (currentVersion: number) =>
  currentVersion === 0
    ? `no rule ${ruleId} is in force (version 0)`
    : `version ${currentVersion} is in force`;

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
        description: `${IF_MATCH_RULE} The answer carries the new version as ETag.`,
        headers: IfMatchHeaders,
        params: PushRuleParams,
        body: PushRuleBody,
        response: { 200: PushRuleView, ...errorResponses(400, 412, 415, 503) },
      },
    },
    async (request, reply) => {
      try {
        parseWindow(request.body.window);
      } catch (error) {
        throw new HttpError(400, 'bad_request', `body.window: ${(error as Error).message}`);
      }
      const { ruleId } = request.params;
      const saved = await changeUnlessStale(
        request,
        reply,
        `rule ${ruleId}`,
        ruleInForce(ruleId),
        (ifVersions) =>
          app.pushConfig.change((change) =>
            change.upsertRule(ruleId, request.body, authorOf(request), ifVersions),
          ),
      );
      tagVersion(reply, saved.version);
      return saved;
    },
  );

  routes.get(
    '/v1/push/rules',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['push'],
        summary: 'Every frequency rule and the quiet hours, as stored.',
        description: "Each rule's and the quiet hours' version is what a change of it sends as If-Match.",
        response: { 200: PushRulesReply, ...errorResponses(503) },
      },
    },
    async () => app.pushConfigStore.load(),
  );

  routes.get(
    '/v1/push/rules/:ruleId',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['push'],
        summary:
          'A frequency rule in force; its version is also answered as ETag, for the If-Match of a change.',
        params: PushRuleParams,
        response: { 200: PushRuleView, ...errorResponses(400, 404, 503) },
      },
    },
    async (request, reply) => {
      const rule = await app.pushConfigStore.rule(request.params.ruleId);
      if (rule === null) throw new HttpError(404, 'not_found', `no rule ${request.params.ruleId}`);
      tagVersion(reply, rule.version);
      return rule;
    },
  );

  routes.get(
    '/v1/push/rules/:ruleId/versions',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['push'],
        summary: "A rule's history, a page at a time: its versions with author and time, newest first.",
        description:
          "Each version's definition is a body PUT takes: a rollback is that PUT, with the If-Match of the version in force. " +
          "An older page is read with before set to the answer's nextBefore (null: the page holds the oldest version).",
        params: PushRuleParams,
        querystring: VersionsQuery,
        response: { 200: PushRuleVersionsReply, ...errorResponses(400, 404, 503) },
      },
    },
    async (request) => {
      const { ruleId } = request.params;
      const page = await app.pushConfigStore.ruleVersions(ruleId, request.query);
      // A page past the oldest version is empty for a rule that exists: only a rule without any version is a 404.
      const exists =
        page.versions.length > 0 ||
        (request.query.before !== undefined &&
          (await app.pushConfigStore.ruleVersions(ruleId, { limit: 1 })).versions.length > 0);
      if (!exists) throw new HttpError(404, 'not_found', `no rule ${ruleId}`);
      return { ruleId, ...page };
    },
  );

  routes.delete(
    '/v1/push/rules/:ruleId',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['push'],
        summary: 'Delete a frequency rule (its history stays).',
        description: IF_MATCH_RULE,
        headers: IfMatchHeaders,
        params: PushRuleParams,
        response: { 200: DeletePushRuleReply, ...errorResponses(400, 404, 412, 503) },
      },
    },
    async (request, reply) => {
      const { ruleId } = request.params;
      const deleted = await changeUnlessStale(
        request,
        reply,
        `rule ${ruleId}`,
        ruleInForce(ruleId),
        (ifVersions) =>
          app.pushConfig.change(
            (change) => change.deleteRule(ruleId, authorOf(request), ifVersions),
            (found) => !found,
          ),
      );
      if (!deleted) throw new HttpError(404, 'not_found', `no rule ${ruleId}`);
      return { ruleId, deleted };
    },
  );

  routes.put(
    '/v1/push/quiet-hours',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['push'],
        summary: "Set the quiet hours, in each user's own time zone; decisions apply them within a second.",
        description:
          'Send If-Match with the ETag GET /v1/push/quiet-hours answered ("0" before any were set) so a change another marketer saved since is not overwritten: ' +
          'it is then refused with 412 (details.currentVersion names the version in force), nothing stored. ' +
          'Without If-Match the last write wins. The answer carries the new version as ETag.',
        headers: IfMatchHeaders,
        body: QuietHoursBody,
        response: { 200: QuietHoursView, ...errorResponses(400, 412, 415, 503) },
      },
    },
    async (request, reply) => {
      const saved = await changeUnlessStale(request, reply, 'the quiet hours', versionInForce, (ifVersions) =>
        app.pushConfig.change((change) => change.setQuietHours(request.body, authorOf(request), ifVersions)),
      );
      tagVersion(reply, saved.version);
      return saved;
    },
  );

  routes.get(
    '/v1/push/quiet-hours',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['push'],
        summary: 'The quiet hours in force and their history, a page at a time, newest first.',
        description:
          'The version in force (0: none set) is also answered as ETag, for the If-Match of a PUT. Each version is a body PUT takes: a rollback is that PUT. ' +
          "An older page is read with before set to the answer's nextBefore (null: the page holds the oldest version).",
        querystring: VersionsQuery,
        response: { 200: QuietHoursVersionsReply, ...errorResponses(400, 503) },
      },
    },
    async (request, reply) => {
      const page = await app.pushConfigStore.quietHoursVersions(request.query);
      const newest =
        request.query.before === undefined
          ? page
          : await app.pushConfigStore.quietHoursVersions({ limit: 1 });
      const current = newest.versions[0] ?? null;
      tagVersion(reply, current?.version ?? 0);
      return { current, ...page };
    },
  );
}
