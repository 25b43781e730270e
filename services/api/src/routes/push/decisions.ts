import {
  isPushRetryKey,
  type PushChannel,
  PushDecisionHeaders,
  PushDecisionParams,
  PushDecisionReply,
  PushDecisionRequest,
  pushDecisionRequestFast,
  ReleasePushDecisionReply,
} from '@elevens/domain';
import { errorResponses, HttpError, stringifyReply, unavailable, withFastBody } from '@elevens/http';
import {
  createPushDecide,
  type DecisionLog,
  decodeDecisionId,
  PushRetryKeyReused,
} from '@elevens/push-rules';
import { packPushRules } from '@elevens/redis-stores';
import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify';
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

/**
 * Decides one message: what `POST /v1/push/decisions` answers, without the HTTP layer. `retryKey` is the
 * request's `Idempotency-Key`.
 */
export type PushDecider = (
  body: PushDecisionRequest,
  context: { admin: boolean; log: DecisionLog; retryKey?: string },
) => Promise<PushDecisionReply>;

const retryKeyReused = (error: unknown): never => {
  if (error instanceof PushRetryKeyReused) throw new HttpError(422, 'idempotency_key_reused', error.message);
  throw error;
};

/** The request's `Idempotency-Key` (the validator let only a well-formed one through). */
const retryKeyOf = (request: FastifyRequest): string | undefined => {
  const retryKey = request.headers['idempotency-key'];
  return typeof retryKey === 'string' ? retryKey : undefined;
};

/**
 * The body checked by hand first (`pushDecisionRequestFast`); the headers only for a well-formed
 * `Idempotency-Key`, without a zod parse of every header on the hot path. The schemas word the 400s.
 */
const decisionValidator: FastifySchemaCompiler<unknown> = (route) => {
  const bySchema = withFastBody(pushDecisionRequestFast)(route);
  if (route.httpPart !== 'headers') return bySchema;
  return (headers: unknown) => {
    const retryKey = (headers as Record<string, unknown>)['idempotency-key'];
    return retryKey === undefined || isPushRetryKey(retryKey) ? { value: headers } : bySchema(headers);
  };
};

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
    // In no experiment: a push's attributionId names its campaign, never an arm.
    recommend: (query) => recommendFor(app, { ...query, outsideExperiments: true }),
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
  return (body, { admin, log, retryKey }) => {
    if (body.overrideCaps && !admin)
      return Promise.reject(
        new HttpError(403, 'forbidden', 'overrideCaps: only an admin key may override caps'),
      );
    if (retryKey === undefined) return decide(body, log);
    return decide(body, log, retryKey).catch(retryKeyReused);
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
          'May this message be sent to this user now? An allowed decision reserves its slot in every rule. ' +
          'With an Idempotency-Key, a retry gets the same decision.',
        headers: PushDecisionHeaders,
        body: PushDecisionRequest,
        response: { 200: PushDecisionReply, ...errorResponses(400, 403, 415, 422) },
      },
      validatorCompiler: decisionValidator,
      serializerCompiler: stringifyReply,
    },
    // Not async: the decision's promise is the handler's, with no second one wrapped around it.
    (request) =>
      decide(request.body, {
        admin: isAdmin(request),
        log: request.log,
        retryKey: retryKeyOf(request),
      }),
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
      let released: Awaited<ReturnType<typeof app.pushLedger.releaseReservation>>;
      try {
        released = await app.pushLedger.releaseReservation(userId, uuid, atMs);
      } catch (error) {
        request.log.warn({ err: error }, 'push release failed');
        throw unavailable('the reservation could not be released, retry shortly', { cause: error });
      }
      // Its send failed: counted in the decision's hour, so the reports' sends are allowed − released.
      if (released !== null)
        app.pushStats.count(atMs, released.channel as PushChannel, released.campaignId, 'released');
      return { decisionId: request.params.decisionId, released: released !== null };
    },
  );
}
