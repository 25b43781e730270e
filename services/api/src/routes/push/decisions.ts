import {
  PushDecisionParams,
  PushDecisionReply,
  PushDecisionRequest,
  pushDecisionRequestFast,
  ReleasePushDecisionReply,
} from '@elevens/domain';
import { errorResponses, HttpError, stringifyReply, unavailable, withFastBody } from '@elevens/http';
import { createPushDecide, type DecisionLog, decodeDecisionId } from '@elevens/push-rules';
import { packPushRules } from '@elevens/redis-stores';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { LruCache } from '../../lru';
import { recommendFor } from '../../recommendations-service';

export interface PushDecisionRouteOptions {
  defaultTimezone: string;
  duplicateCampaignMs: number;
  itemExclusionMs: number;
  timezoneCacheEntries: number;
  /** the wall clock decisions are made at (epoch ms): rule windows, quiet hours and reservation instants */
  now: () => number;
}

/** Admin keys only: with keys not checked (AUTH_REQUIRED=false) nobody may override caps. */
const isAdmin = (request: FastifyRequest): boolean => request.apiKey?.scopes.includes('admin') === true;

/** Decides one message: what `POST /v1/push/decisions` answers, without the HTTP layer. */
export type PushDecider = (
  body: PushDecisionRequest,
  context: { admin: boolean; log: DecisionLog },
) => Promise<PushDecisionReply>;

/**
 * The push-rules package's decision wired to this app: the push ledger, the served push config and model, the
 * recommendations service and the decision counters; only an admin may override caps.
 */
export function createPushDecider(app: FastifyInstance, options: PushDecisionRouteOptions): PushDecider {
  // Read off the app once: each decoration read per decision walks the app's prototype chain.
  const { pushConfig, pushStats, metrics, model } = app;
  const decide = createPushDecide({
    ledger: app.pushLedger,
    packRules: packPushRules,
    servedConfig: () => pushConfig.current(),
    recommend: (query) => recommendFor(app, query),
    modelVersion: () => model.current()?.version ?? null,
    countDecision(nowMs, channel, campaignId, reason) {
      pushStats.count(nowMs, channel, campaignId, reason);
      metrics.recordPushDecision({ channel, reason });
    },
    // userId → profile timezone ('' = unset). The ledger checks the guess and corrects it.
    timezones: new LruCache<string, string>(options.timezoneCacheEntries),
    now: options.now,
    defaultTimezone: options.defaultTimezone,
    duplicateCampaignMs: options.duplicateCampaignMs,
    itemExclusionMs: options.itemExclusionMs,
  });
  return (body, { admin, log }) => {
    if (body.overrideCaps && !admin)
      return Promise.reject(
        new HttpError(403, 'forbidden', 'overrideCaps: only an admin key may override caps'),
      );
    return decide(body, log);
  };
}

export async function pushDecisionRoutes(app: FastifyInstance, options: PushDecisionRouteOptions) {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const decide = createPushDecider(app, options);

  routes.post(
    '/v1/push/decisions',
    {
      config: { scope: 'push:decide' },
      schema: {
        tags: ['push'],
        summary:
          'May this message be sent to this user now? An allowed decision reserves its slot in every rule.',
        body: PushDecisionRequest,
        response: { 200: PushDecisionReply, ...errorResponses(400, 403, 415) },
      },
      validatorCompiler: withFastBody(pushDecisionRequestFast),
      serializerCompiler: stringifyReply,
    },
    // Not async: the decision's promise is the handler's, with no second one wrapped around it.
    (request) => decide(request.body, { admin: isAdmin(request), log: request.log }),
  );

  routes.delete(
    '/v1/push/decisions/:decisionId',
    {
      config: { scope: 'push:decide' },
      schema: {
        tags: ['push'],
        summary: 'Release the reservation of a decision whose send failed (idempotent).',
        params: PushDecisionParams,
        response: { 200: ReleasePushDecisionReply, ...errorResponses(400, 503) },
      },
    },
    async (request) => {
      const decision = decodeDecisionId(request.params.decisionId);
      if (decision === null)
        throw new HttpError(400, 'bad_request', 'decisionId: not a decision id this service issued');
      const { uuid, atMs, userId } = decision;
      try {
        const released = await app.pushLedger.release(userId, uuid, atMs);
        return { decisionId: request.params.decisionId, released };
      } catch (error) {
        request.log.warn({ err: error }, 'push release failed');
        throw unavailable('the reservation could not be released, retry shortly', { cause: error });
      }
    },
  );
}
