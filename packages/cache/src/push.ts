import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys';

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

/**
 * Rules, most restrictive first, as one script argument: per rule "channel \t window \t limit \t active until
 * ('' = none) \t category byte length \t category" (the length lets a category contain anything).
 */
export function packPushRules(rules: readonly PushRuleCheck[]): PackedPushRules {
  let packed = '';
  for (const rule of rules) {
    const category = rule.category ?? '';
    packed += `${rule.channel}\t${rule.windowMs}\t${rule.effectiveLimit}\t${rule.activeUntilMs ?? ''}\t${Buffer.byteLength(category)}\t${category}`;
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

/**
 * One round trip: reads consent and time zone, counts every rule's rolling window, checks the campaign marker,
 * and reserves in all rules or none (the push-decide script).
 */
export async function decidePush(
  redis: Redis,
  keys: RedisKeys,
  input: PushDecideInput,
): Promise<PushDecideResult> {
  // Five arguments whatever the number of rules: the fields that cannot contain a tab share the first.
  const reserve = input.reserve === 'none' ? 'none' : input.reserve === 'counted' ? 'c' : 'x';
  const reply = await redis.elevensPushDecide(
    keys.userProfile(input.userId),
    keys.pushSends(input.userId),
    keys.pushDecisions(input.userId),
    keys.pushCampaigns(input.userId),
    `${input.nowMs}\t${input.decisionUuid}\t${input.channel}\t${input.duplicateMs}\t${input.quiet ? 1 : 0}\t${input.checkCaps ? 1 : 0}\t${reserve}\t${input.retentionMs}\t${input.rules.count}`,
    input.assumedTimezone ?? '*',
    input.campaignId,
    input.category ?? '',
    input.rules.packed,
  );
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

/** Releases a decision's reservation in every rule window, its campaign marker and its item; false if none. */
export async function releasePushDecision(
  redis: Redis,
  keys: RedisKeys,
  userId: string,
  decisionUuid: string,
): Promise<boolean> {
  const released = await redis.elevensPushRelease(
    keys.pushSends(userId),
    keys.pushDecisions(userId),
    keys.pushCampaigns(userId),
    keys.pushItems(userId),
    decisionUuid,
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

/** Marks the first candidate not pushed since `nowMs − exclusionMs` as pushed by the decision; null if none. */
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
    keys.pushDecisions(input.userId),
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

/** A user's counted sends after `sinceMs` and their time zone, in one round trip (for the budget). */
export async function readPushUserState(
  redis: Redis,
  keys: RedisKeys,
  userId: string,
  sinceMs: number,
): Promise<PushUserState> {
  const results = await redis
    .pipeline()
    .zrangebyscore(keys.pushSends(userId), `(${sinceMs}`, '+inf', 'WITHSCORES')
    .hget(keys.userProfile(userId), 'timezone')
    .exec();
  const failed = results?.find(([error]) => error);
  if (!results || failed) throw failed?.[0] ?? new Error('pipeline aborted');
  const entries = results[0]![1] as string[];
  const sends: PushSend[] = [];
  for (let j = 0; j < entries.length; j += 2) {
    const [, flag, channel, ...category] = entries[j]!.split('\t');
    if (flag !== 'c' || channel === undefined) continue;
    const joined = category.join('\t');
    sends.push({ atMs: Number(entries[j + 1]), channel, category: joined === '' ? null : joined });
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

/** Adds counts to hourly hashes in one pipeline; each hash expires `ttlSeconds` after its last write. */
export async function addPushStats(
  redis: Redis,
  keys: RedisKeys,
  counts: ReadonlyMap<number, ReadonlyMap<string, number>>,
  ttlSeconds: number,
): Promise<void> {
  if (counts.size === 0) return;
  const pipeline = redis.pipeline();
  for (const [hour, fields] of counts) {
    for (const [field, count] of fields) pipeline.hincrby(keys.pushStatsHour(hour), field, count);
    pipeline.expire(keys.pushStatsHour(hour), ttlSeconds);
  }
  const results = await pipeline.exec();
  const failed = results?.find(([error]) => error);
  if (failed) throw failed[0];
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
