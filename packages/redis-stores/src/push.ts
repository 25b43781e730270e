import { randomUUID } from 'node:crypto';
import { execOrThrow, type RedisClient, serversOf } from './client';
import type { RedisKeys } from './keys';
import { channelCode, channelOfCode, parsePushReservation } from './push-reservation';
import type { TurnBatch } from './turn-batch';

export { type PushReservation, parsePushReservation } from './push-reservation';

/** A rule as the decision script checks it. */
export interface PushRuleCheck {
  /** 'any' or one channel */
  channel: string;
  /** null: every category */
  category: string | null;
  windowMs: number;
  /** the limit after the message's priority is applied */
  effectiveLimit: number;
  activeUntilMs: number | null;
  /** when a rule that starts after the decision starts; null for one in force */
  startsAtMs: number | null;
}

/** Applicable rules in the decision script's packed form (`packPushRules`): built once per rule set, not per call. */
export interface PackedPushRules {
  count: number;
  packed: string;
}

/** A non-negative integer as exactly `width` digits (the scripts read fixed-width fields). */
function digits(value: number, width: number): string {
  const text = String(value);
  if (!Number.isSafeInteger(value) || value < 0 || text.length > width)
    throw new Error(`${value} does not fit ${width} digits`);
  return text.padStart(width, '0');
}

/**
 * Rules (those in force, most restrictive first, then those that start later) as one script argument: per rule
 * channel code, window (10 digits), limit (7), active until (16, as any Date's ms: a rule may end in year 9999;
 * all 0 = no end), starts at (16; all 0 = in force), category byte length (3) and category, as push-decide.lua
 * reads them.
 */
export function packPushRules(rules: readonly PushRuleCheck[]): PackedPushRules {
  let packed = '';
  for (const rule of rules) {
    const category = rule.category ?? '';
    packed += `${channelCode(rule.channel)}${digits(rule.windowMs, 10)}${digits(rule.effectiveLimit, 7)}${digits(rule.activeUntilMs ?? 0, 16)}${digits(rule.startsAtMs ?? 0, 16)}${digits(Buffer.byteLength(category), 3)}${category}`;
  }
  return { count: rules.length, packed };
}

/** What makes a decision safe to retry: the sender's retry key (`Idempotency-Key`) and what to keep with it. */
export interface PushDecisionRetry {
  /** the sender's key; a retry with it within `periodMs` gets the decision recorded under it */
  key: string;
  /** what the request asked, for the caller to compare with a retry's */
  fingerprint: string;
  /** kept with the decision as given: what the caller needs besides the outcome to answer a retry */
  context: string;
  periodMs: number;
}

export interface PushDecideInput {
  userId: string;
  decisionUuid: string;
  nowMs: number;
  channel: string;
  category: string | null;
  campaignId: string;
  duplicateMs: number;
  /** The profile timezone ('' = unset) quiet hours were evaluated with; null when quiet hours do not matter. */
  assumedTimezone: string | null;
  quiet: boolean;
  /** false with a counted reservation: an admin's override, which the reservation records as one */
  checkCaps: boolean;
  /** What an allowed decision reserves: nothing (dry run), a counted send, or a send exempt from caps. */
  reserve: 'none' | 'counted' | 'exempt';
  /** The message's (absent: normal); a counted reservation checked against caps records a low one. */
  priority?: 'low' | 'normal' | 'high';
  retentionMs: number;
  /** Applicable rules, most restrictive first, then those that start later (`packPushRules`). */
  rules: PackedPushRules;
  /** Only when the sender may retry the decision (never a dry run): recorded under its key, answered again. */
  retry?: PushDecisionRetry;
}

export type PushScriptReason = 'ok' | 'no_consent' | 'duplicate_campaign' | 'quiet_hours' | 'cap_exceeded';

/** A decision recorded under a retry key (push-decide.lua), as a retry of it finds it. */
export interface RetriedPushDecision {
  atMs: number;
  decisionUuid: string;
  fingerprint: string;
  /** the profile time zone ('' = unset) it was made with */
  timezone: string;
  context: string;
  result: Extract<PushDecideResult, { kind: 'decided' }>;
  /**
   * the decision's item answer as the first claim recorded it (`claimRecordedItem`: a claimed item's, or the answer
   * for none), null before any claim
   */
  item: string | null;
}

export type PushDecideResult =
  | { kind: 'timezone'; timezone: string }
  | { kind: 'replay'; decision: RetriedPushDecision }
  | {
      kind: 'decided';
      reason: PushScriptReason;
      /** index into the input rules of the binding full rule, or -1 */
      blockingIndex: number;
      /** when every rule in force has room again: null when they have room now, Infinity when never */
      capFreeAtMs: number | null;
      duplicateUntilMs: number | null;
      /**
       * per input rule: counted sends in its window (this one included when reserved; for a rule that starts
       * later, as counted when it starts) and the one whose leaving next adds room under its limit (the oldest
       * while it has room), null when none
       */
      usage: { used: number; freeingSendMs: number | null }[];
    };

/**
 * The push-decide script's keys and arguments; five arguments whatever the number of rules. The time-zone guess
 * and the quiet flag come apart from the decision, so a ledger call builds no merged copy of it.
 */
function decideScriptArguments(
  keys: RedisKeys,
  input: PushLedgerDecision,
  assumedTimezone: string | null,
  quiet: boolean,
) {
  // A counted send not checked against caps is an admin's override: flagged, so previews never count it refused.
  // One checked at low priority is flagged too, so previews replay it at the lower limit it was decided at.
  const reserve =
    input.reserve === 'none'
      ? 'none'
      : input.reserve === 'exempt'
        ? 'x'
        : !input.checkCaps
          ? 'o'
          : input.priority === 'low'
            ? 'l'
            : 'c';
  if (input.decisionUuid.length !== 36) throw new Error('a decision uuid has 36 characters');
  return [
    keys.userProfile(input.userId),
    keys.pushSends(input.userId),
    keys.userHistory(input.userId),
    // The fields that cannot contain a tab share the first argument.
    `${input.nowMs}\t${input.decisionUuid}\t${channelCode(input.channel)}\t${input.duplicateMs}\t${quiet ? 1 : 0}\t${input.checkCaps ? 1 : 0}\t${reserve}\t${input.retentionMs}\t${input.rules.count}`,
    assumedTimezone ?? '*',
    input.campaignId,
    input.category ?? '',
    input.rules.packed,
  ] as const;
}

function parseRetriedDecision(stored: string): RetriedPushDecision {
  const decision = JSON.parse(stored) as {
    at: string;
    uuid: string;
    fingerprint: string;
    timezone: string;
    context: string;
    outcome: string[];
    item?: string;
  };
  return {
    atMs: Number(decision.at),
    decisionUuid: decision.uuid,
    fingerprint: decision.fingerprint,
    timezone: decision.timezone,
    context: decision.context,
    result: parseDecideReply(decision.outcome) as RetriedPushDecision['result'],
    item: decision.item ?? null,
  };
}

function parseDecideReply(reply: (string | number)[]): PushDecideResult {
  if (reply[0] === 'timezone') return { kind: 'timezone', timezone: String(reply[1]) };
  if (reply[0] === 'replay') return { kind: 'replay', decision: parseRetriedDecision(String(reply[1])) };
  const capFree = Number(reply[2]);
  const duplicateUntil = Number(reply[3]);
  const usage: { used: number; freeingSendMs: number | null }[] = [];
  for (let i = 4; i < reply.length; i += 2) {
    const freeingSend = Number(reply[i + 1]);
    usage.push({ used: Number(reply[i]), freeingSendMs: freeingSend < 0 ? null : freeingSend });
  }
  return {
    kind: 'decided',
    reason: reply[0] as PushScriptReason,
    blockingIndex: Number(reply[1]) - 1,
    capFreeAtMs: capFree === -1 ? null : capFree === -2 ? Number.POSITIVE_INFINITY : capFree,
    duplicateUntilMs: duplicateUntil < 0 ? null : duplicateUntil,
    usage,
  };
}

/**
 * A decision the sender may retry: push-decide.lua with the user's retry hash as a fourth key, its key, the
 * request's fingerprint, the context and the period after the usual arguments. Not through the TurnBatch, which
 * sends the script with three keys; still one round trip.
 */
function decideRetried(
  redis: RedisClient,
  keys: RedisKeys,
  decision: PushLedgerDecision & { retry: PushDecisionRetry },
  assumedTimezone: string | null,
  quiet: boolean,
): Promise<PushDecideResult> {
  const [profile, sends, history, ...args] = decideScriptArguments(keys, decision, assumedTimezone, quiet);
  const { retry } = decision;
  return redis
    .elevensPushDecideRetried(
      profile,
      sends,
      history,
      keys.pushRetries(decision.userId),
      ...args,
      retry.key,
      retry.fingerprint,
      retry.context,
      retry.periodMs,
    )
    .then(parseDecideReply);
}

/**
 * The push-decide script through a TurnBatch: the decisions asked for during one event-loop turn reach Redis in one
 * pipeline. Each decision is still its own atomic script call.
 */
export function decidePushInTurn(
  batch: TurnBatch,
  keys: RedisKeys,
  input: PushDecideInput,
): Promise<PushDecideResult> {
  return sendDecision(batch, keys, input, input.assumedTimezone, input.quiet);
}

const sendDecision = (
  batch: TurnBatch,
  keys: RedisKeys,
  decision: PushLedgerDecision,
  assumedTimezone: string | null,
  quiet: boolean,
): Promise<PushDecideResult> =>
  batch
    .send('elevensPushDecide', decideScriptArguments(keys, decision, assumedTimezone, quiet))
    .then((reply) => parseDecideReply(reply as (string | number)[]));

export interface PushSend {
  atMs: number;
  channel: string;
  category: string | null;
  /** sent past caps and quiet hours by an admin's override: counted all the same */
  overridden: boolean;
  /**
   * the priority its caps were checked at: 'low' as its reservation records it; 'normal' for a normal or high
   * one (the same limits), an override (never checked) and a reservation made before the flag existed
   */
  priority: 'low' | 'normal';
}

export interface PushUserState {
  /** sends counted by caps after `sinceMs`, oldest first */
  sends: PushSend[];
  /** the profile's timezone, '' when unset */
  timezone: string;
}

/** A user's counted sends after `sinceMs` and their time zone, in one round trip (for the budget). */
export async function readPushUserState(
  redis: RedisClient,
  keys: RedisKeys,
  userId: string,
  sinceMs: number,
): Promise<PushUserState> {
  const results = await redis
    .pipeline()
    .zrangebyscoreBuffer(keys.pushSends(userId), `(${sinceMs}`, '+inf', 'WITHSCORES')
    .hget(keys.userProfile(userId), 'timezone')
    .exec();
  const failed = results?.find(([error]) => error);
  if (!results || failed) throw failed?.[0] ?? new Error('pipeline aborted');
  const entries = results[0]![1] as Buffer[];
  const sends: PushSend[] = [];
  for (let j = 0; j < entries.length; j += 2) {
    const reservation = parsePushReservation(entries[j]!);
    if (!reservation.counted) continue;
    sends.push({
      atMs: Number(entries[j + 1]!.toString()),
      channel: reservation.channel,
      category: reservation.category,
      overridden: reservation.overridden,
      priority: reservation.lowPriority ? 'low' : 'normal',
    });
  }
  return { sends, timezone: (results[1]![1] as string | null) ?? '' };
}

/**
 * Up to `maxUsers` ids of users with push sends, found by SCAN (never KEYS) on every server: each master of a
 * cluster, whose SCAN sees its own keys only. `complete` is false when users were left out.
 */
export async function scanPushUsers(
  redis: RedisClient,
  keys: RedisKeys,
  maxUsers: number,
): Promise<{ userIds: string[]; complete: boolean }> {
  const userIds = new Set<string>();
  const pattern = keys.pushSendsPattern();
  for (const server of serversOf(redis)) {
    let cursor = '0';
    do {
      const [next, found] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const key of found) {
        const userId = keys.userOfPushSends(key);
        if (userId === null) continue;
        if (userIds.size >= maxUsers) return { userIds: [...userIds], complete: false };
        userIds.add(userId);
      }
    } while (cursor !== '0');
  }
  return { userIds: [...userIds], complete: true };
}

const HOUR_MS = 3_600_000;
const STATS_FIELD_SEPARATOR = '\t';

export interface PushStatsCount {
  channel: string;
  reason: string;
  campaignId: string;
  count: number;
}

/** Fields per push-add-stats.lua call: a flush with many campaigns never holds Redis long in one script. */
const STATS_FIELDS_PER_CALL = 1000;

/** The stats hash field for one channel, reason and campaign (campaign last: it may contain anything). */
export const pushStatsField = (channel: string, reason: string, campaignId: string) =>
  `${channel}${STATS_FIELD_SEPARATOR}${reason}${STATS_FIELD_SEPARATOR}${campaignId}`;

export const epochHour = (ms: number) => Math.floor(ms / HOUR_MS);

/**
 * Counts of the hours [fromHour, toHour), summed per channel, reason and campaign. One HGETALL per hour, not one
 * pipeline: on a cluster the hours' keys live on different nodes.
 */
export async function readPushStats(
  redis: RedisClient,
  keys: RedisKeys,
  fromHour: number,
  toHour: number,
): Promise<PushStatsCount[]> {
  const reads: Promise<Record<string, string>>[] = [];
  for (let hour = fromHour; hour < toHour; hour++) reads.push(redis.hgetall(keys.pushStatsHour(hour)));
  const totals = new Map<string, number>();
  for (const hash of await Promise.all(reads)) {
    for (const [field, count] of Object.entries(hash))
      totals.set(field, (totals.get(field) ?? 0) + Number(count));
  }
  return [...totals].map(([field, count]) => {
    const [channel = '', reason = '', ...campaign] = field.split(STATS_FIELD_SEPARATOR);
    return { channel, reason, campaignId: campaign.join(STATS_FIELD_SEPARATOR), count };
  });
}

/** The decision counts an `addStats` could not add (by hour, then field); the others were added. */
export class PushStatsNotAdded extends Error {
  constructor(
    readonly notAdded: ReadonlyMap<number, ReadonlyMap<string, number>>,
    cause: unknown,
  ) {
    super('some push decision counts were not added', { cause });
    this.name = 'PushStatsNotAdded';
  }
}

/** A decision as the ledger takes it: the time-zone guess and the quiet flag are the ledger's to set. */
export type PushLedgerDecision = Omit<PushDecideInput, 'assumedTimezone' | 'quiet'>;

/** A decision's outcome and the profile time zone ('' = unset) it was made with. */
export interface PushLedgerOutcome {
  result: Extract<PushDecideResult, { kind: 'decided' }>;
  timezone: string;
}

/** Users whose sends one step of `readRecentSends` reads at once: bounds the replies in flight. */
const RECENT_SENDS_READS_AT_ONCE = 100;

/** A profile time zone can change between the guess and the decision; the ledger retries that many times. */
const TIMEZONE_ATTEMPTS = 3;

/** Profile time zones ('' = unset) by user id, as a caller remembers them between decisions (an LRU, say). */
export interface TimezoneMemory {
  get(userId: string): string | undefined;
  set(userId: string, timezone: string): void;
}

/**
 * The push ledger: every user's reservations (sends), pushed items, the served push config and the hourly
 * decision counts, in Redis or a Redis Cluster. It owns their keys, the reservation layout (push-reservation.ts)
 * and the push scripts; every script touches one user's keys only, which share a hash tag.
 */
export class PushLedger {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    /** decisions of one event-loop turn go to Redis in one write through it */
    private readonly turnBatch?: TurnBatch,
  ) {}

  /**
   * Decides and, when allowed, reserves in one script call (push-decide.lua): it reads consent and the time zone,
   * counts every rule's rolling window, checks for an earlier decision of the campaign, and reserves in all rules
   * or none. `quietFor` says whether quiet hours hold the message
   * for a profile time zone ('' = unset), or is null when quiet hours do not matter. The call is made with the
   * time zone `timezones` remembers for the user (else '') and made again when the profile says otherwise.
   */
  async decide(
    decision: PushLedgerDecision,
    quietFor: ((timezone: string) => boolean) | null,
    timezones?: TimezoneMemory,
  ): Promise<PushLedgerOutcome> {
    const outcome = await this.decideOrReplay(decision, quietFor, timezones);
    if ('replay' in outcome) throw new Error('a decision without a retry key was answered as a retry');
    return outcome;
  }

  /**
   * `decide` for a decision the sender may retry: it is recorded under the sender's retry key in the same script
   * call, and a decision already recorded under the key within its period is answered instead (`replay`), nothing
   * checked, reserved or recorded. Concurrent attempts with one key are one decision.
   */
  decideRetried(
    decision: PushLedgerDecision & { retry: PushDecisionRetry },
    quietFor: ((timezone: string) => boolean) | null,
    timezones?: TimezoneMemory,
  ): Promise<PushLedgerOutcome | { replay: RetriedPushDecision }> {
    return this.decideOrReplay(decision, quietFor, timezones);
  }

  private async decideOrReplay(
    decision: PushLedgerDecision,
    quietFor: ((timezone: string) => boolean) | null,
    timezones: TimezoneMemory | undefined,
  ): Promise<PushLedgerOutcome | { replay: RetriedPushDecision }> {
    const { userId, retry } = decision;
    let assumed = timezones?.get(userId) ?? '';
    for (let attempt = 0; attempt < TIMEZONE_ATTEMPTS; attempt++) {
      const assumedTimezone = quietFor ? assumed : null;
      const quiet = quietFor?.(assumed) ?? false;
      const result =
        retry !== undefined
          ? await decideRetried(this.redis, this.keys, { ...decision, retry }, assumedTimezone, quiet)
          : this.turnBatch
            ? await sendDecision(this.turnBatch, this.keys, decision, assumedTimezone, quiet)
            : parseDecideReply(
                await this.redis.elevensPushDecide(
                  ...decideScriptArguments(this.keys, decision, assumedTimezone, quiet),
                ),
              );
      if (result.kind === 'decided') return { result, timezone: assumed };
      if (result.kind === 'replay') return { replay: result.decision };
      assumed = result.timezone;
      timezones?.set(userId, assumed);
    }
    throw new Error(`the time zone of user ${userId} kept changing`);
  }

  /**
   * Releases a decision's reservation (made at `decisionAtMs`): out of every rule window and the
   * duplicate-campaign check, its item pushable again; false if there was none.
   */
  async release(userId: string, decisionUuid: string, decisionAtMs: number): Promise<boolean> {
    return (await this.releaseReservation(userId, decisionUuid, decisionAtMs)) !== null;
  }

  /** `release`, answering the channel and campaign of the reservation released (for the counts), or null. */
  async releaseReservation(
    userId: string,
    decisionUuid: string,
    decisionAtMs: number,
  ): Promise<{ channel: string; campaignId: string } | null> {
    const { keys } = this;
    const released = (await this.redis.elevensPushRelease(
      keys.pushSends(userId),
      keys.pushItems(userId),
      decisionUuid,
      decisionAtMs,
    )) as unknown as [string, string] | 0;
    if (released === 0) return null;
    return { channel: channelOfCode(released[0]), campaignId: released[1] };
  }

  /** Items pushed to the user after `sinceMs`. */
  recentlyPushedItems(userId: string, sinceMs: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.pushItems(userId), `(${sinceMs}`, '+inf');
  }

  /**
   * Marks the first candidate not pushed since `nowMs − exclusionMs` as pushed by the decision reserved at
   * `nowMs`; null if none.
   */
  async claimItem(input: {
    userId: string;
    decisionUuid: string;
    nowMs: number;
    exclusionMs: number;
    candidates: readonly string[];
  }): Promise<string | null> {
    if (input.candidates.length === 0) return null;
    return this.redis.elevensPushClaimItem(
      this.keys.pushItems(input.userId),
      this.keys.pushSends(input.userId),
      input.nowMs,
      input.exclusionMs,
      input.decisionUuid,
      ...input.candidates,
    );
  }

  /**
   * `claimItem` for a decision recorded under a retry key: each candidate comes with its answer (`answer`, as the
   * caller will reply it), and the decision's first claim records the claimed one's, or `noItemAnswer` when it
   * claims none. Answers what that first claim recorded, whichever attempt of the decision made it (a later claim
   * claims nothing); null when the decision holds no reservation.
   */
  async claimRecordedItem(input: {
    userId: string;
    decisionUuid: string;
    nowMs: number;
    exclusionMs: number;
    retryKey: string;
    /** the caller's answer when the decision gets no item */
    noItemAnswer: string;
    candidates: readonly { itemId: string; answer: string }[];
  }): Promise<string | null> {
    const { keys } = this;
    const args: (string | number)[] = [
      input.nowMs,
      input.exclusionMs,
      input.decisionUuid,
      input.retryKey,
      input.noItemAnswer,
    ];
    for (const candidate of input.candidates) args.push(candidate.itemId, candidate.answer);
    const answer = await this.redis.elevensPushClaimRecordedItem(
      keys.pushItems(input.userId),
      keys.pushSends(input.userId),
      keys.pushRetries(input.userId),
      ...args,
    );
    return typeof answer === 'string' ? answer : null;
  }

  readUserState(userId: string, sinceMs: number): Promise<PushUserState> {
    return readPushUserState(this.redis, this.keys, userId, sinceMs);
  }

  /**
   * The counted sends after `sinceMs` and time zones of up to `maxUsers` users with push history
   * (`scanPushUsers`), read RECENT_SENDS_READS_AT_ONCE users at a time; users with no counted send since then are
   * left out. `complete` is false when users were left out.
   */
  async readRecentSends(
    sinceMs: number,
    maxUsers: number,
  ): Promise<{ users: PushUserState[]; complete: boolean }> {
    const { userIds, complete } = await scanPushUsers(this.redis, this.keys, maxUsers);
    const users: PushUserState[] = [];
    for (let i = 0; i < userIds.length; i += RECENT_SENDS_READS_AT_ONCE) {
      const states = await Promise.all(
        userIds
          .slice(i, i + RECENT_SENDS_READS_AT_ONCE)
          .map((userId) => readPushUserState(this.redis, this.keys, userId, sinceMs)),
      );
      for (const state of states) if (state.sends.length > 0) users.push(state);
    }
    return { users, complete };
  }

  /**
   * Config (JSON) and version written together, so a reader that sees the new version reads the new config.
   * The version is a new random id, never one published before: a counter would start again after Redis lost
   * it (or go back after a failover to a replica that missed a write), and a process still holding a version
   * from before would take a new config for the one it serves. Returns the version.
   * `unconfirmedChange` names a change copied before its commit: it is marked unconfirmed with the copy
   * (`confirmConfig` clears it). Without it the config is the committed one, written under the config lock (no
   * change between its copy and its commit), and every mark is cleared.
   */
  async publishConfig(configJson: string, unconfirmedChange: string | null = null): Promise<string> {
    const version = randomUUID();
    const transaction = this.redis
      .multi()
      .set(this.keys.pushConfig(), configJson)
      .set(this.keys.pushConfigVersion(), version);
    if (unconfirmedChange === null) transaction.del(this.keys.pushConfigUnconfirmed());
    else transaction.sadd(this.keys.pushConfigUnconfirmed(), unconfirmedChange);
    await execOrThrow(transaction);
    return version;
  }

  /** Clears the mark of change `changeId`, once it committed. */
  async confirmConfig(changeId: string): Promise<void> {
    await this.redis.srem(this.keys.pushConfigUnconfirmed(), changeId);
  }

  readConfigVersion(): Promise<string | null> {
    return this.redis.get(this.keys.pushConfigVersion());
  }

  /** What serving processes poll: the version (null: none published) and the changes not yet confirmed. */
  async readConfigState(): Promise<{ version: string | null; unconfirmed: string[] }> {
    const [version, unconfirmed] = (await execOrThrow(
      this.redis.multi().get(this.keys.pushConfigVersion()).smembers(this.keys.pushConfigUnconfirmed()),
    )) as [string | null, string[]];
    return { version, unconfirmed };
  }

  /** The config and the version it was published with, read atomically. */
  async readConfig(): Promise<{ version: string | null; configJson: string | null }> {
    const [version, configJson] = await this.redis.mget(
      this.keys.pushConfigVersion(),
      this.keys.pushConfig(),
    );
    return { version: version ?? null, configJson: configJson ?? null };
  }

  /**
   * Adds counts to hourly hashes, one script call per hour and up to STATS_FIELDS_PER_CALL fields
   * (push-add-stats.lua); each hash expires `ttlSeconds` after its last write. Each call adds all its fields or
   * none, and the calls succeed or fail apart (on a cluster the hours live on different nodes): when any fails,
   * this throws `PushStatsNotAdded` naming the counts of the failed calls only, once every call has settled.
   */
  async addStats(
    counts: ReadonlyMap<number, ReadonlyMap<string, number>>,
    ttlSeconds: number,
  ): Promise<void> {
    const calls: { hour: number; fieldCounts: (string | number)[]; added: Promise<number> }[] = [];
    const call = (hour: number, key: string, fieldCounts: (string | number)[]) =>
      calls.push({
        hour,
        fieldCounts,
        added: this.redis.elevensPushAddStats(key, ttlSeconds, ...fieldCounts),
      });
    for (const [hour, fields] of counts) {
      const key = this.keys.pushStatsHour(hour);
      let fieldCounts: (string | number)[] = [];
      for (const [field, count] of fields) {
        fieldCounts.push(field, count);
        if (fieldCounts.length === 2 * STATS_FIELDS_PER_CALL) {
          call(hour, key, fieldCounts);
          fieldCounts = [];
        }
      }
      if (fieldCounts.length > 0) call(hour, key, fieldCounts);
    }
    const settled = await Promise.allSettled(calls.map(({ added }) => added));
    const notAdded = new Map<number, Map<string, number>>();
    let cause: unknown;
    settled.forEach((outcome, i) => {
      if (outcome.status === 'fulfilled') return;
      cause ??= outcome.reason;
      const { hour, fieldCounts } = calls[i]!;
      const fields = notAdded.get(hour) ?? new Map<string, number>();
      for (let j = 0; j < fieldCounts.length; j += 2)
        fields.set(fieldCounts[j] as string, fieldCounts[j + 1] as number);
      notAdded.set(hour, fields);
    });
    if (notAdded.size > 0) throw new PushStatsNotAdded(notAdded, cause);
  }

  readStats(fromHour: number, toHour: number): Promise<PushStatsCount[]> {
    return readPushStats(this.redis, this.keys, fromHour, toHour);
  }
}
