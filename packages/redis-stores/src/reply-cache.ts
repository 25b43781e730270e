import type { RedisClient } from './client';
import type { RedisKeys } from './keys';
import { newUserStamp, type UserStateRead, type UserStateReply, userStateOf } from './live-state';
import { BatchScript, LuaScript, scriptCommand, type TurnBatch } from './turn-batch';

/**
 * One cached answer and what it holds under: the user's stamp it was computed under, the versions served then,
 * its lifetime, and the canonical query it answers (the query's hash names the entry, so a hash collision shows
 * as another query: a miss, never a wrong answer).
 */
export interface ReplyEntry {
  stamp: string;
  modelVersion: string;
  boostRulesVersion: string;
  catalogVersion: string;
  computedAtMs: number;
  validUntilMs: number;
  /** null: the answer is in no experiment */
  experiment: string | null;
  arm: string | null;
  query: string;
  /** the answer's JSON, as the caller stored it */
  json: string;
}

const HEADER_FIELDS = 9;

/**
 * An entry as stored: one header line of tab-separated fields — stamp (first: user-reply.lua compares it),
 * model version, boost rules version, catalog version, computed at (ms), valid until (ms), experiment and arm
 * ('' for none), query (JSON text, so neither a tab nor a newline) — then the answer's JSON.
 */
export function encodeReplyEntry(entry: ReplyEntry): string {
  return `${entry.stamp}\t${entry.modelVersion}\t${entry.boostRulesVersion}\t${entry.catalogVersion}\t${entry.computedAtMs}\t${entry.validUntilMs}\t${entry.experiment ?? ''}\t${entry.arm ?? ''}\t${entry.query}\n${entry.json}`;
}

/** The entry `text` encodes when it is one written under `stamp`, else null. */
export function decodeReplyEntry(text: string, stamp: string): ReplyEntry | null {
  const headerEnd = text.indexOf('\n');
  if (headerEnd < 0) return null;
  const header = text.slice(0, headerEnd).split('\t');
  if (header.length !== HEADER_FIELDS || header[0] !== stamp) return null;
  const [, modelVersion, boostRulesVersion, catalogVersion, computedAt, validUntil, experiment, arm, query] =
    header as [string, string, string, string, string, string, string, string, string];
  return {
    stamp,
    modelVersion,
    boostRulesVersion,
    catalogVersion,
    computedAtMs: Number(computedAt),
    validUntilMs: Number(validUntil),
    experiment: experiment || null,
    arm: arm || null,
    query,
    json: text.slice(headerEnd + 1),
  };
}

/** What one read of a user's reply cache found: their current stamp and the entry for the query, each or null. */
export interface UserReplyRead {
  stamp: string | null;
  /** the entry for the query, when one was written under the current stamp */
  entry: ReplyEntry | null;
  /**
   * the user's state, read at the same instant as the stamp, when the entry was not written under that stamp
   * (null when it was: the entry is then likely served as is)
   */
  state: UserStateRead | null;
  /**
   * whether an answer computed now may be stored: admission is off, the query was already missed once under this
   * stamp, or an entry under it came back (which the caller computes again only when the entry no longer holds:
   * another model, rules or catalog version); false without a stamp when admission is on
   */
  admit: boolean;
}

/** Reads and writes both (user-reply.lua): a write then finds the script loaded by the read before it. */
const userReplyScript = new BatchScript('user-reply', 6);

/** user-reply.lua's arguments: its six keys (the user's hash tag in each), the operation, the query key, its two. */
const userReplyArgs = (
  keys: RedisKeys,
  userId: string,
  queryKey: string,
  operation: 'read' | 'write',
  third: string | number,
  fourth: number,
) => [
  keys.userStamp(userId),
  keys.userReply(userId, queryKey),
  keys.userHistory(userId),
  keys.userPurchased(userId),
  keys.userProfile(userId),
  keys.userReplyIndex(userId),
  operation,
  queryKey,
  third,
  fourth,
];

/**
 * The user's stamp and one cached entry in one script call (all keys share the user's slot), sent with the other
 * requests of this event-loop turn; when the entry was not written under the current stamp, the user's state for
 * computing the answer comes in the same call (user-reply.lua), so a miss costs no second round trip.
 * `markMs` > 0 turns admission on: a query's first miss under a stamp leaves a mark living that long instead of
 * admitting the answer (`admit`), its second is admitted; 0 admits every computed answer. A mark is entered in
 * the user's reply index (`userReplyIndex`), as entries are, so their erasure deletes it.
 */
export async function readUserReply(
  batch: TurnBatch,
  keys: RedisKeys,
  userId: string,
  queryKey: string,
  historyLength: number,
  markMs: number,
): Promise<UserReplyRead> {
  const reply = (await batch.send(
    userReplyScript,
    userReplyArgs(keys, userId, queryKey, 'read', historyLength, Math.ceil(markMs)),
  )) as [string | null, string | null] | [string | null, null, ...UserStateReply, admit: number];
  const [stamp, entry] = reply;
  if (reply.length === 2)
    return {
      stamp,
      entry: entry && stamp ? decodeReplyEntry(entry, stamp) : null,
      state: null,
      admit: true,
    };
  return {
    stamp: stamp ?? null,
    entry: null,
    state: userStateOf(reply.slice(2, 5) as UserStateReply, historyLength),
    admit: reply[5] === 1,
  };
}

const claimUserStampScript = new LuaScript('claim-user-stamp');

/**
 * Gives a user with no stamp (never written, erased, or an earlier claim expired) a new one, unless a writer set
 * one meanwhile or their erasure's mark holds (claim-user-stamp.lua: no stamp is written while it is there);
 * returns the token set, or null. Issue it before reading the data the answer comes from. It expires after
 * `ttlMs`, so users who are only ever read leave nothing behind; a writer's stamp replaces it.
 */
export async function claimUserStamp(
  redis: RedisClient,
  keys: RedisKeys,
  userId: string,
  ttlMs: number,
): Promise<string | null> {
  const stamp = newUserStamp();
  const command = scriptCommand(redis, claimUserStampScript, [
    2,
    keys.userStamp(userId),
    keys.userHistory(userId),
    stamp,
    ttlMs,
  ]);
  redis.sendCommand(command);
  return Number(await command.promise) === 1 ? stamp : null;
}

/**
 * Stores one cached entry for `ttlMs` and enters it in the user's reply index, which their erasure and the
 * forgetting of their history delete it by, through the same TurnBatch as `readUserReply`: a read of a later turn
 * reaches Redis after it. Stores nothing while the user's history holds an erasure's mark, nor when the entry's
 * stamp is no longer the user's (user-reply.lua): the answer may have been computed before the erasure or from a
 * history forgotten since.
 */
export async function writeUserReply(
  batch: TurnBatch,
  keys: RedisKeys,
  userId: string,
  queryKey: string,
  entry: ReplyEntry,
  ttlMs: number,
): Promise<void> {
  await batch.send(
    userReplyScript,
    userReplyArgs(keys, userId, queryKey, 'write', encodeReplyEntry(entry), Math.ceil(ttlMs)),
  );
}
