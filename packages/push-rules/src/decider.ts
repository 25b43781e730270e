import { randomUUID } from 'node:crypto';
import {
  encodePushAnswerId,
  isExternalId,
  type PushDecisionReply,
  type PushDecisionRequest,
  type PushReason,
} from '@elevens/domain';
import {
  checksCaps,
  compiledRuleSets,
  type DecisionOutcome,
  decisionVerdict,
  isoInstant,
  planDecision,
  quietForProfile,
  type RuleCheck,
  type UpcomingRule,
} from './decision';
import { type QuietHours, resolveTimeZone } from './quiet-hours';
import type { Channel, Priority, PushRule } from './types';
import { MAX_WINDOW_MS } from './window';

/** A decision as the ledger checks and reserves it: `rules` in the ledger's packed form. */
export interface LedgerDecision<P> {
  userId: string;
  nowMs: number;
  decisionUuid: string;
  channel: Channel;
  category: string | null;
  campaignId: string;
  duplicateMs: number;
  checkCaps: boolean;
  reserve: 'none' | 'counted' | 'exempt';
  /** the request's: a counted reservation records a low one, so previews replay it at its priority */
  priority: Priority;
  retentionMs: number;
  rules: P;
}

/** What a decision the sender may retry is recorded with: the sender's key, and what answers a retry. */
export interface RetryRecord {
  key: string;
  /** what the request asked: a retry must ask the same */
  fingerprint: string;
  /** kept as given, returned to a retry */
  context: string;
  periodMs: number;
}

/** A decision recorded under a retry key, as a retry of it finds it. */
export interface RetriedDecision {
  atMs: number;
  decisionUuid: string;
  fingerprint: string;
  /** the profile time zone ('' = unset) it was made with */
  timezone: string;
  /** the `retry.context` it was recorded with */
  context: string;
  result: DecisionOutcome;
  /** the item answer the decision's first claim recorded (`claimRecordedItem`), null before any claim */
  item: string | null;
}

/** Profile time zones ('' = unset) by user id, remembered between decisions (an LRU, say). */
export interface TimezoneMemory {
  get(userId: string): string | undefined;
  set(userId: string, timezone: string): void;
}

/** The ledger calls a decision makes (the Redis push ledger has them; tests use an in-memory one). */
export interface PushDecisionLedger<P> {
  /**
   * Checks and, when allowed, reserves in one atomic step; `quietFor` says whether quiet hours hold the message
   * for a profile time zone ('' = unset), null when they do not matter. Answers with the time zone it used.
   */
  decide(
    decision: LedgerDecision<P>,
    quietFor: ((profileTimeZone: string) => boolean) | null,
    timezones: TimezoneMemory,
  ): Promise<{ result: DecisionOutcome; timezone: string }>;
  /**
   * `decide` for a decision the sender may retry: recorded under `decision.retry.key` in the same atomic step; a
   * decision already recorded under the key within its period is answered instead (`replay`), nothing checked,
   * reserved or recorded.
   */
  decideRetried(
    decision: LedgerDecision<P> & { retry: RetryRecord },
    quietFor: ((profileTimeZone: string) => boolean) | null,
    timezones: TimezoneMemory,
  ): Promise<{ result: DecisionOutcome; timezone: string } | { replay: RetriedDecision }>;
  /** Items pushed to the user after `sinceMs`. */
  recentlyPushedItems(userId: string, sinceMs: number): Promise<string[]>;
  /** Marks the first candidate not pushed since `nowMs − exclusionMs` as the decision's item; null if none. */
  claimItem(input: {
    userId: string;
    decisionUuid: string;
    nowMs: number;
    exclusionMs: number;
    candidates: readonly string[];
  }): Promise<string | null>;
  /**
   * `claimItem` for a decision recorded under `retryKey`: its first claim records the claimed candidate's `answer`
   * with it, or `noItemAnswer` when it claims none. Answers what the first claim recorded, whichever attempt of the
   * decision made it (a later claim claims nothing); null when the decision holds no reservation.
   */
  claimRecordedItem(input: {
    userId: string;
    decisionUuid: string;
    nowMs: number;
    exclusionMs: number;
    retryKey: string;
    noItemAnswer: string;
    candidates: readonly { itemId: string; answer: string }[];
  }): Promise<string | null>;
}

export type PushDecisionItem = NonNullable<PushDecisionReply['item']>;

/** The log a decision reports an outage to (a pino or Fastify logger is one). */
export interface DecisionLog {
  warn(details: object, message: string): void;
}

export interface PushDeciderOptions<P> {
  ledger: PushDecisionLedger<P>;
  /** the rules as the ledger takes them, built once per rule set (`compiledRuleSets`) */
  packRules: (checks: RuleCheck[]) => P;
  /** the rules and quiet hours in force now */
  servedConfig: () => { rules: readonly PushRule[]; quietHours: QuietHours | null };
  /** best items first for the user, none of `exclude` */
  recommend: (query: {
    userId: string;
    limit: number;
    exclude: string[];
  }) => Promise<{ items: readonly PushDecisionItem[] }>;
  /** the served model version an item would come from (null before the first build) */
  modelVersion: () => string | null;
  /** counts one decision that is not a dry run */
  countDecision: (nowMs: number, channel: Channel, campaignId: string, reason: PushReason) => void;
  timezones: TimezoneMemory;
  /** the wall clock decisions are made at (epoch ms): rule windows, quiet hours and reservation instants */
  now: () => number;
  defaultTimezone: string;
  duplicateCampaignMs: number;
  itemExclusionMs: number;
  /** how long a decision made with a retry key is answered again to a retry with it (default 24 h) */
  retryPeriodMs?: number;
}

/**
 * Decides one message: the answer to `POST /v1/push/decisions` once the caller may override caps. With a retry
 * key (`Idempotency-Key`) a retry gets the first decision made with it again; rejects with `PushRetryKeyReused`
 * when the key was used for a different request.
 */
export type PushDecide = (
  body: PushDecisionRequest,
  log: DecisionLog,
  retryKey?: string,
) => Promise<PushDecisionReply>;

/** A retry key (`Idempotency-Key`) sent again with a request other than the one its decision answered. */
export class PushRetryKeyReused extends Error {
  constructor() {
    super('this Idempotency-Key was used for a different decision request; use a new key per message');
    this.name = 'PushRetryKeyReused';
  }
}

/** How long a decision is answered again to a retry with its key, unless the options say otherwise. */
export const PUSH_RETRY_PERIOD_MS = 86_400_000;

/**
 * What a decision made with a retry key keeps to answer a retry exactly as it answered the first attempt. Fields
 * marked optional are absent from records made before they existed: such a record answers as it did then.
 */
interface RetryContext {
  attributionId: string;
  /** `activeUntilMs` absent: the rule's end was not recorded, and `resetsAt` did not heed it */
  rules: { ruleId: string; limit: number; windowMs: number; activeUntilMs?: number | null }[];
  quiet: QuietHours | null;
  /** the priority whose limits `remaining` counts down; absent: the rules' own limits */
  priority?: Priority;
  /**
   * the rules that started later, whose usage follows the rules'; absent: none were checked (a record made before
   * they were), and `retryAt` was held to the rules in force only
   */
  upcoming?: UpcomingRule[];
}

/** What a request asks, apart from who it is for (retry keys are per user) and a dry run (never recorded). */
const requestFingerprint = (body: PushDecisionRequest): string =>
  JSON.stringify([
    body.channel,
    body.campaignId,
    body.category ?? null,
    body.priority,
    body.transactional,
    body.withItem,
    body.overrideCaps,
  ]);

/** How many recommendations are asked for, so concurrent decisions for one user can each claim a different one. */
const ITEM_CANDIDATES = 10;

/** What a decision answers as its `item` when it gets none, as a retry's record keeps it. */
const NO_ITEM_ANSWER = JSON.stringify(null);

/** How long a refusal for an unavailable ledger tells the caller to wait. */
const UNAVAILABLE_RETRY_MS = 1000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A decision id names its user and its instant, so a release finds the reservation (scored by that instant in the
 * user's sends) without another lookup: "uuid.instant in base 36.user id in base64url".
 */
export const encodeDecisionId = (uuid: string, atMs: number, userId: string): string =>
  `${uuid}.${atMs.toString(36)}.${Buffer.from(userId).toString('base64url')}`;

/** What a decision id names, or null for anything `encodeDecisionId` did not make. */
export function decodeDecisionId(decisionId: string): { uuid: string; atMs: number; userId: string } | null {
  const [uuid = '', at = '', user = '', ...rest] = decisionId.split('.');
  const atMs = Number.parseInt(at, 36);
  const userId = Buffer.from(user, 'base64url').toString('utf8');
  const wellFormed =
    rest.length === 0 &&
    UUID.test(uuid) &&
    /^[0-9a-z]{1,11}$/.test(at) &&
    Number.isSafeInteger(atMs) &&
    isExternalId(userId);
  return wellFormed ? { uuid, atMs, userId } : null;
}

/**
 * A decision: the rules and quiet hours in force are planned here, checked and reserved by the ledger in one
 * call, and answered from what it found; an item is picked when asked for. Whether the caller may override caps
 * is the caller's to check.
 */
export function createPushDecide<P>(options: PushDeciderOptions<P>): PushDecide {
  const { ledger, recommend, countDecision, timezones, now, defaultTimezone } = options;
  const retryPeriodMs = options.retryPeriodMs ?? PUSH_RETRY_PERIOD_MS;
  const ruleSetFor = compiledRuleSets(options.packRules);
  // A reservation is the only record of its campaign, so it is kept as long as the duplicate period too.
  const retentionMs = Math.max(MAX_WINDOW_MS, options.duplicateCampaignMs);

  // Declared once, not per decision: the hot path creates no closures it does not need.
  /** The best items for the user, none pushed to them within the exclusion period. */
  async function itemCandidates(userId: string, nowMs: number): Promise<readonly PushDecisionItem[]> {
    const exclude = await ledger.recentlyPushedItems(userId, nowMs - options.itemExclusionMs);
    return (await recommend({ userId, limit: ITEM_CANDIDATES, exclude })).items;
  }

  /**
   * The item of a decision the sender may retry: its first claim, by whichever attempt, fixes the item every
   * attempt answers, none included (no model yet, every candidate pushed, no recommendation to be had), so a retry
   * never claims an item for a decision that answered none.
   */
  async function recordedItem(
    userId: string,
    uuid: string,
    nowMs: number,
    retryKey: string,
    log: DecisionLog,
  ): Promise<PushDecisionItem | null> {
    let items: readonly PushDecisionItem[] = [];
    try {
      items = await itemCandidates(userId, nowMs);
    } catch (error) {
      log.warn({ err: error }, 'no item for the push decision');
    }
    const answer = await ledger.claimRecordedItem({
      userId,
      decisionUuid: uuid,
      nowMs,
      exclusionMs: options.itemExclusionMs,
      retryKey,
      noItemAnswer: NO_ITEM_ANSWER,
      candidates: items.map((item) => ({ itemId: item.itemId, answer: JSON.stringify(item) })),
    });
    return answer === null ? null : (JSON.parse(answer) as PushDecisionItem | null);
  }

  async function pickItem(
    userId: string,
    uuid: string,
    nowMs: number,
    reserve: boolean,
    retryKey: string | undefined,
    log: DecisionLog,
  ): Promise<PushDecisionItem | null> {
    if (reserve && retryKey !== undefined) return recordedItem(userId, uuid, nowMs, retryKey, log);
    const items = await itemCandidates(userId, nowMs);
    if (!reserve) return items[0] ?? null;
    const claimed = await ledger.claimItem({
      userId,
      decisionUuid: uuid,
      nowMs,
      exclusionMs: options.itemExclusionMs,
      candidates: items.map((item) => item.itemId),
    });
    return items.find((item) => item.itemId === claimed) ?? null;
  }

  const attributionIdOf = (body: PushDecisionRequest, nowMs: number): string =>
    encodePushAnswerId({
      campaign: body.campaignId,
      modelVersion: body.withItem ? options.modelVersion() : null,
      answeredAtMs: nowMs,
    });

  /** The item of an allowed decision asked `withItem`; null (and a warning) when none can be picked. */
  async function itemOf(
    body: PushDecisionRequest,
    uuid: string,
    nowMs: number,
    retryKey: string | undefined,
    log: DecisionLog,
  ): Promise<PushDecisionItem | null> {
    try {
      return await pickItem(body.userId, uuid, nowMs, !body.dryRun, retryKey, log);
    } catch (error) {
      log.warn({ err: error }, 'no item for the push decision');
      return null;
    }
  }

  /** A retry's answer: the recorded decision's, as its first attempt answered it; nothing counted again. */
  async function answerRetry(
    body: PushDecisionRequest,
    retried: RetriedDecision,
    retryKey: string,
    log: DecisionLog,
  ): Promise<PushDecisionReply> {
    if (retried.fingerprint !== requestFingerprint(body)) throw new PushRetryKeyReused();
    const context = JSON.parse(retried.context) as RetryContext;
    const reply: PushDecisionReply = {
      decisionId: encodeDecisionId(retried.decisionUuid, retried.atMs, body.userId),
      // The fingerprint matched, so the request is exempt from caps exactly as the recorded one was.
      ...decisionVerdict(
        { ...context, priority: context.priority ?? 'normal', checkCaps: checksCaps(body) },
        retried.result,
        {
          nowMs: retried.atMs,
          timeZone: resolveTimeZone(retried.timezone, defaultTimezone),
        },
      ),
    };
    if (reply.allowed) reply.attributionId = context.attributionId;
    if (reply.allowed && body.withItem)
      // The first attempt may not have claimed its item yet: claiming for the same decision answers what the
      // decision's first claim recorded (an item, or none), whichever attempt claims first.
      reply.item =
        retried.item === null
          ? await itemOf(body, retried.decisionUuid, retried.atMs, retryKey, log)
          : (JSON.parse(retried.item) as PushDecisionItem | null);
    return reply;
  }

  return async (body, log, retryKeyAsked) => {
    const nowMs = now();
    const uuid = randomUUID();
    const decisionId = encodeDecisionId(uuid, nowMs, body.userId);
    const served = options.servedConfig();
    const category = body.category ?? null;
    const message = { channel: body.channel, category };
    const plan = planDecision(body, ruleSetFor(served.rules, message, nowMs), served.quietHours);
    // A dry run reserves nothing, so there is nothing a retry of it must not do twice.
    const retryKey = body.dryRun ? undefined : retryKeyAsked;
    let retry: RetryRecord | undefined;
    let retryContext: RetryContext | undefined;
    if (retryKey !== undefined) {
      retryContext = {
        attributionId: attributionIdOf(body, nowMs),
        rules: plan.rules.map(({ ruleId, limit, windowMs, activeUntilMs }) => ({
          ruleId,
          limit,
          windowMs,
          activeUntilMs,
        })),
        quiet: plan.quiet,
        priority: plan.priority,
        upcoming: plan.upcoming.map(({ limit, windowMs, activeFromMs, activeUntilMs }) => ({
          limit,
          windowMs,
          activeFromMs,
          activeUntilMs,
        })),
      };
      retry = {
        key: retryKey,
        fingerprint: requestFingerprint(body),
        context: JSON.stringify(retryContext),
        periodMs: retryPeriodMs,
      };
    }

    let decided: { result: DecisionOutcome; timezone: string } | { replay: RetriedDecision };
    try {
      const decision: LedgerDecision<P> = {
        userId: body.userId,
        nowMs,
        decisionUuid: uuid,
        channel: body.channel,
        category,
        campaignId: body.campaignId,
        duplicateMs: options.duplicateCampaignMs,
        checkCaps: plan.checkCaps,
        reserve: plan.reserve,
        priority: body.priority,
        retentionMs,
        rules: plan.packed,
      };
      const quietFor = plan.quiet && quietForProfile(plan.quiet, defaultTimezone, nowMs);
      decided =
        retry === undefined
          ? await ledger.decide(decision, quietFor, timezones)
          : await ledger.decideRetried({ ...decision, retry }, quietFor, timezones);
    } catch (error) {
      // Without the ledger nothing can be counted or reserved: refuse rather than risk flooding users.
      log.warn({ err: error }, 'push decision unavailable');
      if (!body.dryRun) countDecision(nowMs, body.channel, body.campaignId, 'unavailable');
      return {
        decisionId,
        allowed: false,
        reason: 'unavailable',
        retryAt: isoInstant(nowMs + UNAVAILABLE_RETRY_MS),
        remaining: [],
      };
    }
    if ('replay' in decided) return answerRetry(body, decided.replay, retryKey!, log);
    if (!body.dryRun) countDecision(nowMs, body.channel, body.campaignId, decided.result.reason);
    const timeZone = resolveTimeZone(decided.timezone, defaultTimezone);
    const reply: PushDecisionReply = {
      decisionId,
      ...decisionVerdict(plan, decided.result, { nowMs, timeZone }),
    };
    if (reply.allowed) reply.attributionId = retryContext?.attributionId ?? attributionIdOf(body, nowMs);
    if (reply.allowed && body.withItem) reply.item = await itemOf(body, uuid, nowMs, retryKey, log);
    return reply;
  };
}
