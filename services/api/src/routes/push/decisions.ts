import { randomUUID } from 'node:crypto';
import {
  encodePushAnswerId,
  isExternalId,
  PushDecisionParams,
  PushDecisionReply,
  PushDecisionRequest,
  type PushReason,
  pushDecisionRequestFast,
  ReleasePushDecisionReply,
} from '@elevens/domain';
import { errorResponses, HttpError, unavailable, withFastBody } from '@elevens/http';
import {
  compiledRuleSets,
  decisionVerdict,
  isoInstant,
  MAX_WINDOW_MS,
  planDecision,
  quietForProfile,
  resolveTimeZone,
} from '@elevens/push-rules';
import { type PushLedgerOutcome, packPushRules } from '@elevens/redis-stores';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
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

/** How many recommendations are asked for, so concurrent decisions for one user can each claim a different one. */
const ITEM_CANDIDATES = 10;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A decision id names its user and its instant, so a release finds the reservation (scored by that instant in the
 * user's sends) without another lookup: "uuid.instant in base 36.user id in base64url".
 */
const encodeDecisionId = (uuid: string, atMs: number, userId: string) =>
  `${uuid}.${atMs.toString(36)}.${Buffer.from(userId).toString('base64url')}`;

function decodeDecisionId(decisionId: string): { uuid: string; atMs: number; userId: string } {
  const [uuid = '', at = '', user = '', ...rest] = decisionId.split('.');
  const atMs = Number.parseInt(at, 36);
  const userId = Buffer.from(user, 'base64url').toString('utf8');
  const wellFormed =
    rest.length === 0 &&
    UUID.test(uuid) &&
    /^[0-9a-z]{1,11}$/.test(at) &&
    Number.isSafeInteger(atMs) &&
    isExternalId(userId);
  if (!wellFormed)
    throw new HttpError(400, 'bad_request', 'decisionId: not a decision id this service issued');
  return { uuid, atMs, userId };
}

/** Admin keys only: with keys not checked (AUTH_REQUIRED=false) nobody may override caps. */
const isAdmin = (request: FastifyRequest): boolean => request.apiKey?.scopes.includes('admin') === true;

/**
 * The reply is built here from typed values, so validating it again with zod on every decision buys nothing and
 * costs the hot path time: the schema documents the answer and JSON.stringify writes it.
 */
const stringifyReply = () => (data: unknown) => JSON.stringify(data);

/** Decides one message: what `POST /v1/push/decisions` answers, without the HTTP layer. */
export type PushDecider = (
  body: PushDecisionRequest,
  context: { admin: boolean; log: FastifyBaseLogger },
) => Promise<PushDecisionReply>;

/**
 * A decision: the rules and quiet hours in force are planned by the push-rules package, checked and reserved by
 * the push ledger in one script call, and answered by the package; an item is picked when asked for.
 */
export function createPushDecider(app: FastifyInstance, options: PushDecisionRouteOptions): PushDecider {
  // userId → profile timezone ('' = unset). The ledger checks the guess and corrects it.
  const timezones = new LruCache<string, string>(options.timezoneCacheEntries);
  const ruleSetFor = compiledRuleSets(packPushRules);
  // A reservation is the only record of its campaign, so it is kept as long as the duplicate period too.
  const retentionMs = Math.max(MAX_WINDOW_MS, options.duplicateCampaignMs);

  // Declared once, not per decision: the hot path creates no closures it does not need.
  function count(body: PushDecisionRequest, nowMs: number, reason: PushReason) {
    if (body.dryRun) return;
    app.pushStats.count(nowMs, body.channel, body.campaignId, reason);
    app.metrics.recordPushDecision({ channel: body.channel, reason });
  }

  async function pickItem(userId: string, uuid: string, nowMs: number, reserve: boolean) {
    const exclude = await app.pushLedger.recentlyPushedItems(userId, nowMs - options.itemExclusionMs);
    const { items } = await recommendFor(app, { userId, limit: ITEM_CANDIDATES, exclude });
    if (!reserve) return items[0] ?? null;
    const claimed = await app.pushLedger.claimItem({
      userId,
      decisionUuid: uuid,
      nowMs,
      exclusionMs: options.itemExclusionMs,
      candidates: items.map((item) => item.itemId),
    });
    return items.find((item) => item.itemId === claimed) ?? null;
  }

  return async (body, { admin, log }) => {
    if (body.overrideCaps && !admin)
      throw new HttpError(403, 'forbidden', 'overrideCaps: only an admin key may override caps');
    const nowMs = options.now();
    const uuid = randomUUID();
    const decisionId = encodeDecisionId(uuid, nowMs, body.userId);
    const served = app.pushConfig.current();
    const request = { ...body, category: body.category ?? null };
    const plan = planDecision(request, ruleSetFor(served.rules, request, nowMs), served.quietHours);

    let decided: PushLedgerOutcome;
    try {
      decided = await app.pushLedger.decide(
        {
          userId: body.userId,
          nowMs,
          decisionUuid: uuid,
          channel: body.channel,
          category: request.category,
          campaignId: body.campaignId,
          duplicateMs: options.duplicateCampaignMs,
          checkCaps: plan.checkCaps,
          reserve: plan.reserve,
          retentionMs,
          rules: plan.packed,
        },
        plan.quiet && quietForProfile(plan.quiet, options.defaultTimezone, nowMs),
        timezones,
      );
    } catch (error) {
      // Without Redis nothing can be counted or reserved: refuse rather than risk flooding users.
      log.warn({ err: error }, 'push decision unavailable');
      count(body, nowMs, 'unavailable');
      return {
        decisionId,
        allowed: false,
        reason: 'unavailable',
        retryAt: isoInstant(nowMs + 1000),
        remaining: [],
      };
    }
    count(body, nowMs, decided.result.reason);
    const timeZone = resolveTimeZone(decided.timezone, options.defaultTimezone);
    const reply: PushDecisionReply = {
      decisionId,
      ...decisionVerdict(plan, decided.result, { nowMs, timeZone }),
    };
    if (reply.allowed)
      reply.attributionId = encodePushAnswerId({
        campaign: body.campaignId,
        modelVersion: body.withItem ? (app.model.current()?.version ?? null) : null,
        answeredAtMs: nowMs,
      });
    if (reply.allowed && body.withItem) {
      try {
        reply.item = await pickItem(body.userId, uuid, nowMs, !body.dryRun);
      } catch (error) {
        log.warn({ err: error }, 'no item for the push decision');
        reply.item = null;
      }
    }
    return reply;
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
    async (request) => decide(request.body, { admin: isAdmin(request), log: request.log }),
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
      const { uuid, atMs, userId } = decodeDecisionId(request.params.decisionId);
      try {
        const released = await app.pushLedger.release(userId, uuid, atMs);
        return { decisionId: request.params.decisionId, released };
      } catch (error) {
        request.log.warn({ err: error }, 'push release failed');
        throw unavailable('the reservation could not be released, retry shortly');
      }
    },
  );
}
