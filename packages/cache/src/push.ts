import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys';
import type { TurnBatch } from './turn-batch';

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
}

/** Applicable rules in the decision script's packed form (`packPushRules`): built once per rule set, not per call. */
export interface PackedPushRules {
  count: number;
  packed: string;
}

/** One byte per channel in the scripts' fixed-width records ('*': a rule over every channel). */
const CHANNEL_CODES: Readonly<Record<string, string>> = {
  push: 'p',
  email: 'e',
  sms: 's',
  inapp: 'i',
  any: '*',
};
const CHANNELS_BY_CODE = new Map(Object.entries(CHANNEL_CODES).map(([channel, code]) => [code, channel]));

function channelCode(channel: string): string {
  const code = CHANNEL_CODES[channel];
  if (code === undefined) throw new Error(`no script code for push channel ${channel}`);
  return code;
}

/** A non-negative integer as exactly `width` digits (the scripts read fixed-width fields). */
function digits(value: number, width: number): string {
  const text = String(value);
  if (!Number.isSafeInteger(value) || value < 0 || text.length > width)
    throw new Error(`${value} does not fit ${width} digits`);
  return text.padStart(width, '0');
}

/**
 * Rules, most restrictive first, as one script argument: per rule channel code, window (10 digits), limit (7),
 * active until (13; all 0 = no end), category byte length (3) and category, as push-decide.lua reads them.
 */
export function packPushRules(rules: readonly PushRuleCheck[]): PackedPushRules {
  let packed = '';
  for (const rule of rules) {
    const category = rule.category ?? '';
    packed += `${channelCode(rule.channel)}${digits(rule.windowMs, 10)}${digits(rule.effectiveLimit, 7)}${digits(rule.activeUntilMs ?? 0, 13)}${digits(Buffer.byteLength(category), 3)}${category}`;
  }
  return { count: rules.length, packed };
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
  checkCaps: boolean;
  /** What an allowed decision reserves: nothing (dry run), a counted send, or a send exempt from caps. */
  reserve: 'none' | 'counted' | 'exempt';
  retentionMs: number;
  /** Applicable rules, most restrictive first. */
  rules: PackedPushRules;
}

export type PushScriptReason = 'ok' | 'no_consent' | 'duplicate_campaign' | 'quiet_hours' | 'cap_exceeded';

export type PushDecideResult =
  | { kind: 'timezone'; timezone: string }
  | {
      kind: 'decided';
      reason: PushScriptReason;
      /** index into the input rules of the binding full rule, or -1 */
      blockingIndex: number;
      /** when every rule has room again: null when they have room now, Infinity when never */
      capFreeAtMs: number | null;
      duplicateUntilMs: number | null;
      /** per input rule: counted sends in its window (this one included when reserved) and the oldest */
      usage: { used: number; oldestMs: number | null }[];
    };

/** The push-decide script's keys and arguments; five arguments whatever the number of rules. */
function decideScriptArguments(keys: RedisKeys, input: PushDecideInput) {
  const reserve = input.reserve === 'none' ? 'none' : input.reserve === 'counted' ? 'c' : 'x';
  if (input.decisionUuid.length !== 36) throw new Error('a decision uuid has 36 characters');
  return [
    keys.userProfile(input.userId),
    keys.pushSends(input.userId),
    // The fields that cannot contain a tab share the first argument.
    `${input.nowMs}\t${input.decisionUuid}\t${channelCode(input.channel)}\t${input.duplicateMs}\t${input.quiet ? 1 : 0}\t${input.checkCaps ? 1 : 0}\t${reserve}\t${input.retentionMs}\t${input.rules.count}`,
    input.assumedTimezone ?? '*',
    input.campaignId,
    input.category ?? '',
    input.rules.packed,
  ] as const;
}

function parseDecideReply(reply: (string | number)[]): PushDecideResult {
  if (reply[0] === 'timezone') return { kind: 'timezone', timezone: String(reply[1]) };
  const capFree = Number(reply[2]);
  const duplicateUntil = Number(reply[3]);
  const usage: { used: number; oldestMs: number | null }[] = [];
  for (let i = 4; i < reply.length; i += 2) {
    const oldest = Number(reply[i + 1]);
    usage.push({ used: Number(reply[i]), oldestMs: oldest < 0 ? null : oldest });
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
 * One round trip: reads consent and time zone, counts every rule's rolling window, checks for an earlier decision
 * of the campaign, and reserves in all rules or none (the push-decide script).
 */
export async function decidePush(
  redis: Redis,
  keys: RedisKeys,
  input: PushDecideInput,
): Promise<PushDecideResult> {
  return parseDecideReply(await redis.elevensPushDecide(...decideScriptArguments(keys, input)));
}

/**
 * `decidePush` through a TurnBatch: the decisions asked for during one event-loop turn reach Redis in one
 * pipeline. Each decision is still its own atomic script call.
 */
export async function decidePushInTurn(
  batch: TurnBatch,
  keys: RedisKeys,
  input: PushDecideInput,
): Promise<PushDecideResult> {
  return parseDecideReply(
    (await batch.send('elevensPushDecide', decideScriptArguments(keys, input))) as (string | number)[],
  );
}

/**
 * Releases a decision's reservation (made at `decisionAtMs`): out of every rule window and the duplicate-campaign
 * check, its item pushable again; false if there was none.
 */
export async function releasePushDecision(
  redis: Redis,
  keys: RedisKeys,
  userId: string,
  decisionUuid: string,
  decisionAtMs: number,
): Promise<boolean> {
  const released = await redis.elevensPushRelease(
    keys.pushSends(userId),
    keys.pushItems(userId),
    decisionUuid,
    decisionAtMs,
  );
  return released === 1;
}

/** Items pushed to the user after `sinceMs`. */
export async function recentlyPushedItems(
  redis: Redis,
  keys: RedisKeys,
  userId: string,
  sinceMs: number,
): Promise<string[]> {
  return redis.zrangebyscore(keys.pushItems(userId), `(${sinceMs}`, '+inf');
}

/**
 * Marks the first candidate not pushed since `nowMs − exclusionMs` as pushed by the decision reserved at `nowMs`;
 * null if none.
 */
export async function claimPushItem(
  redis: Redis,
  keys: RedisKeys,
  input: {
    userId: string;
    decisionUuid: string;
    nowMs: number;
    exclusionMs: number;
    candidates: readonly string[];
  },
): Promise<string | null> {
  if (input.candidates.length === 0) return null;
  return redis.elevensPushClaimItem(
    keys.pushItems(input.userId),
    keys.pushSends(input.userId),
    input.nowMs,
    input.exclusionMs,
    input.decisionUuid,
    ...input.candidates,
  );
}

export interface PushSend {
  atMs: number;
  channel: string;
  category: string | null;
}

export interface PushUserState {
  /** sends counted by caps after `sinceMs`, oldest first */
  sends: PushSend[];
  /** the profile's timezone, '' when unset */
  timezone: string;
}

/** A reservation as the sends zset holds it (fixed-width head described in push-decide.lua). */
export interface PushReservation {
  uuid: string;
  /** false: exempt from caps (transactional) */
  counted: boolean;
  channel: string;
  category: string | null;
  campaignId: string;
  /** the item claimed for the decision, null if none */
  itemId: string | null;
}

const RESERVATION_HEAD_BYTES = 44;
const COUNTED_FLAG = 'c'.charCodeAt(0);

export function parsePushReservation(member: Buffer): PushReservation {
  const campaignEnd = RESERVATION_HEAD_BYTES + Number(member.toString('latin1', 38, 41));
  const categoryEnd = campaignEnd + Number(member.toString('latin1', 41, 44));
  const category = member.toString('utf8', campaignEnd, categoryEnd);
  const itemId = member.toString('utf8', categoryEnd);
  return {
    uuid: member.toString('latin1', 2, 38),
    counted: member[0] === COUNTED_FLAG,
    channel: CHANNELS_BY_CODE.get(member.toString('latin1', 1, 2)) ?? '',
    category: category === '' ? null : category,
    campaignId: member.toString('utf8', RESERVATION_HEAD_BYTES, campaignEnd),
    itemId: itemId === '' ? null : itemId,
  };
}

/** A user's counted sends after `sinceMs` and their time zone, in one round trip (for the budget). */
export async function readPushUserState(
  redis: Redis,
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
    });
  }
  return { sends, timezone: (results[1]![1] as string | null) ?? '' };
}

/** Config (JSON) and version written together, so a reader that sees the new version reads the new config. */
export async function publishPushConfig(redis: Redis, keys: RedisKeys, configJson: string): Promise<number> {
  const results = await redis
    .multi()
    .set(keys.pushConfig(), configJson)
    .incr(keys.pushConfigVersion())
    .exec();
  const failed = results?.find(([error]) => error);
  if (!results || failed) throw failed?.[0] ?? new Error('transaction aborted');
  return results[1]![1] as number;
}

export async function readPushConfigVersion(redis: Redis, keys: RedisKeys): Promise<string | null> {
  return redis.get(keys.pushConfigVersion());
}

/** The config and the version it was published with, read atomically. */
export async function readPushConfig(
  redis: Redis,
  keys: RedisKeys,
): Promise<{ version: string | null; configJson: string | null }> {
  const [version, configJson] = await redis.mget(keys.pushConfigVersion(), keys.pushConfig());
  return { version: version ?? null, configJson: configJson ?? null };
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

/**
 * Adds counts to hourly hashes, one script call per hour and up to STATS_FIELDS_PER_CALL fields
 * (push-add-stats.lua); each hash expires `ttlSeconds` after its last write.
 */
export async function addPushStats(
  redis: Redis,
  keys: RedisKeys,
  counts: ReadonlyMap<number, ReadonlyMap<string, number>>,
  ttlSeconds: number,
): Promise<void> {
  const calls: Promise<number>[] = [];
  for (const [hour, fields] of counts) {
    let fieldCounts: (string | number)[] = [];
    for (const [field, count] of fields) {
      fieldCounts.push(field, count);
      if (fieldCounts.length === 2 * STATS_FIELDS_PER_CALL) {
        calls.push(redis.elevensPushAddStats(keys.pushStatsHour(hour), ttlSeconds, ...fieldCounts));
        fieldCounts = [];
      }
    }
    if (fieldCounts.length > 0)
      calls.push(redis.elevensPushAddStats(keys.pushStatsHour(hour), ttlSeconds, ...fieldCounts));
  }
  await Promise.all(calls);
}

/** The stats hash field for one channel, reason and campaign (campaign last: it may contain anything). */
export const pushStatsField = (channel: string, reason: string, campaignId: string) =>
  `${channel}${STATS_FIELD_SEPARATOR}${reason}${STATS_FIELD_SEPARATOR}${campaignId}`;

export const epochHour = (ms: number) => Math.floor(ms / HOUR_MS);

/** Counts of the hours [fromHour, toHour), summed per channel, reason and campaign. */
export async function readPushStats(
  redis: Redis,
  keys: RedisKeys,
  fromHour: number,
  toHour: number,
): Promise<PushStatsCount[]> {
  const pipeline = redis.pipeline();
  for (let hour = fromHour; hour < toHour; hour++) pipeline.hgetall(keys.pushStatsHour(hour));
  const results = (await pipeline.exec()) ?? [];
  const totals = new Map<string, number>();
  for (const [error, hash] of results) {
    if (error) throw error;
    for (const [field, count] of Object.entries(hash as Record<string, string>))
      totals.set(field, (totals.get(field) ?? 0) + Number(count));
  }
  return [...totals].map(([field, count]) => {
    const [channel = '', reason = '', ...campaign] = field.split(STATS_FIELD_SEPARATOR);
    return { channel, reason, campaignId: campaign.join(STATS_FIELD_SEPARATOR), count };
  });
}
