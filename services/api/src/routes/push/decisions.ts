import { randomUUID } from 'node:crypto';
import {
  claimPushItem,
  decidePushInTurn,
  type PackedPushRules,
  type PushDecideInput,
  type PushDecideResult,
  packPushRules,
  recentlyPushedItems,
  releasePushDecision,
} from '@elevens/cache';
import {
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
  applicableRuleSpan,
  effectiveLimit,
  isQuietAt,
  MAX_WINDOW_MS,
  type PushMessage,
  type PushRule,
  type QuietHours,
  quietHoursApply,
  resolveTimeZone,
  retryAt,
} from '@elevens/push-rules';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { LruCache } from '../../lru';
import type { PushConfigSnapshot } from '../../plugins/push-rules';
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
/** A profile time zone read from Redis can change between reading and deciding; retry that many times. */
const TIMEZONE_ATTEMPTS = 3;

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

const DAY_MS = 86_400_000;
const dayPrefixes = new Map<number, string>();
const pad = (n: number, width: number) => String(n).padStart(width, '0');

/**
 * `Date#toISOString` for the instants of a decision (~3 µs each, up to one per rule and decision): the date part
 * is remembered per day, the time part is built from integers.
 */
function iso(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    prefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
    if (dayPrefixes.size >= 1000) dayPrefixes.clear();
    dayPrefixes.set(day, prefix);
  }
  const t = ms - day * DAY_MS;
  return `${prefix}${pad(Math.floor(t / 3_600_000), 2)}:${pad(Math.floor(t / 60_000) % 60, 2)}:${pad(Math.floor(t / 1000) % 60, 2)}.${pad(t % 1000, 3)}Z`;
}

/**
 * The reply is built here from typed values, so validating it again with zod on every decision buys nothing and
 * costs the hot path time: the schema documents the answer and JSON.stringify writes it.
 */
const stringifyReply = () => (data: unknown) => JSON.stringify(data);

/** The rules that apply to one kind of message, evaluated once and reused while no rule starts or ends. */
interface CompiledRuleSet {
  fromMs: number;
  untilMs: number;
  rules: PushRule[];
  /** the rules as the decision script takes them: low priority, and normal or high */
  packedLow: PackedPushRules;
  packed: PackedPushRules;
}

/** Distinct (channel, category) sets kept; categories are the caller's, so the cache is bounded. */
const MAX_COMPILED_RULE_SETS = 1024;

/**
 * Rule sets per (channel, category) of the served config: filtering, ordering and packing the rules is done when
 * the config changes or a rule starts or ends, not on every decision.
 */
function compiledRuleSets() {
  let config: PushConfigSnapshot | null = null;
  const sets = new Map<string, CompiledRuleSet>();
  const pack = (rules: readonly PushRule[], priority: 'low' | 'normal') =>
    packPushRules(
      rules.map((rule) => ({
        channel: rule.channel,
        category: rule.category,
        windowMs: rule.windowMs,
        effectiveLimit: effectiveLimit(rule.limit, priority),
        activeUntilMs: rule.activeUntilMs,
      })),
    );
  return (served: PushConfigSnapshot, message: PushMessage, nowMs: number): CompiledRuleSet => {
    if (served !== config || sets.size >= MAX_COMPILED_RULE_SETS) {
      config = served;
      sets.clear();
    }
    const key = message.category === null ? message.channel : `${message.channel}\t${message.category}`;
    let set = sets.get(key);
    if (set === undefined || nowMs < set.fromMs || nowMs >= set.untilMs) {
      const span = applicableRuleSpan(served.rules, message, nowMs);
      set = { ...span, packedLow: pack(span.rules, 'low'), packed: pack(span.rules, 'normal') };
      sets.set(key, set);
    }
    return set;
  };
}

/** Decides one message: what `POST /v1/push/decisions` answers, without the HTTP layer. */
export type PushDecider = (
  body: PushDecisionRequest,
  context: { admin: boolean; log: FastifyBaseLogger },
) => Promise<PushDecisionReply>;

/** The decision logic over the app's Redis, served push config and stats; one time-zone cache per decider. */
export function createPushDecider(app: FastifyInstance, options: PushDecisionRouteOptions): PushDecider {
  // userId → profile timezone ('' = unset). The script checks the guess and answers the actual value if wrong.
  const timezones = new LruCache<string, string>(options.timezoneCacheEntries);
  const ruleSetFor = compiledRuleSets();
  // A reservation is the only record of its campaign, so it is kept as long as the duplicate period too.
  const retentionMs = Math.max(MAX_WINDOW_MS, options.duplicateCampaignMs);

  /** One script call; retried when the user's time zone was not what quiet hours were evaluated with. */
  async function decide(
    quiet: QuietHours | null,
    /** the script's input; its time-zone guess and quiet flag are set here */
    input: PushDecideInput,
  ): Promise<{ result: Exclude<PushDecideResult, { kind: 'timezone' }>; timeZone: string }> {
    const { userId, nowMs } = input;
    let assumed = timezones.get(userId) ?? '';
    for (let attempt = 0; attempt < TIMEZONE_ATTEMPTS; attempt++) {
      const timeZone = resolveTimeZone(assumed, options.defaultTimezone);
      input.assumedTimezone = quiet ? assumed : null;
      input.quiet = quiet !== null && isQuietAt(quiet, timeZone, nowMs);
      const result = await decidePushInTurn(app.redisTurnBatch, app.keys, input);
      if (result.kind === 'decided') return { result, timeZone };
      assumed = result.timezone;
      timezones.set(userId, assumed);
    }
    throw new Error(`the time zone of user ${userId} kept changing`);
  }

  // Declared once, not per decision: the hot path creates no closures it does not need.
  function count(body: PushDecisionRequest, nowMs: number, reason: PushReason) {
    if (body.dryRun) return;
    app.pushStats.count(nowMs, body.channel, body.campaignId, reason);
    app.metrics.recordPushDecision({ channel: body.channel, reason });
  }

  async function pickItem(userId: string, uuid: string, nowMs: number, reserve: boolean) {
    const exclude = await recentlyPushedItems(app.redis, app.keys, userId, nowMs - options.itemExclusionMs);
    const { items } = await recommendFor(app, { userId, limit: ITEM_CANDIDATES, exclude });
    if (!reserve) return items[0] ?? null;
    const claimed = await claimPushItem(app.redis, app.keys, {
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
    const message = { channel: body.channel, category: body.category ?? null };
    const ruleSet = ruleSetFor(served, message, nowMs);
    const rules = ruleSet.rules;
    const exempt = body.transactional || body.overrideCaps;
    const quiet =
      !exempt && served.quietHours && quietHoursApply(served.quietHours, body.channel)
        ? served.quietHours
        : null;

    let decided: Awaited<ReturnType<typeof decide>>;
    try {
      decided = await decide(quiet, {
        userId: body.userId,
        nowMs,
        assumedTimezone: null,
        quiet: false,
        decisionUuid: uuid,
        channel: body.channel,
        category: message.category,
        campaignId: body.campaignId,
        duplicateMs: options.duplicateCampaignMs,
        checkCaps: !exempt,
        reserve: body.dryRun ? 'none' : body.transactional ? 'exempt' : 'counted',
        retentionMs,
        rules: body.priority === 'low' ? ruleSet.packedLow : ruleSet.packed,
      });
    } catch (error) {
      // Without Redis nothing can be counted or reserved: refuse rather than risk flooding users.
      log.warn({ err: error }, 'push decision unavailable');
      count(body, nowMs, 'unavailable');
      return { decisionId, allowed: false, reason: 'unavailable', retryAt: iso(nowMs + 1000), remaining: [] };
    }
    const { result, timeZone } = decided;
    count(body, nowMs, result.reason);
    const remaining = rules.map((rule, i) => {
      const usage = result.usage[i]!;
      return {
        ruleId: rule.ruleId,
        remaining: Math.max(0, rule.limit - usage.used),
        resetsAt: usage.oldestMs === null ? null : iso(usage.oldestMs + rule.windowMs),
      };
    });
    const allowed = result.reason === 'ok';
    const reply: PushDecisionReply = { decisionId, allowed, reason: result.reason, remaining };
    if (result.reason === 'cap_exceeded') reply.ruleId = rules[result.blockingIndex]!.ruleId;
    if (result.reason === 'cap_exceeded' || result.reason === 'quiet_hours') {
      const at = retryAt({ nowMs, capFreeAtMs: result.capFreeAtMs, quiet, timeZone });
      if (at !== null) reply.retryAt = iso(at);
    }
    if (result.reason === 'duplicate_campaign' && result.duplicateUntilMs !== null)
      reply.retryAt = iso(result.duplicateUntilMs);
    if (allowed && body.withItem) {
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
        const released = await releasePushDecision(app.redis, app.keys, userId, uuid, atMs);
        return { decisionId: request.params.decisionId, released };
      } catch (error) {
        request.log.warn({ err: error }, 'push release failed');
        throw unavailable('the reservation could not be released, retry shortly');
      }
    },
  );
}
