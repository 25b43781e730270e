import { createHash, randomBytes } from 'node:crypto';
import { Cluster, Command, type Pipeline, ReplyError } from 'ioredis';
import { PipelinesByNode, type RedisClient, slotOf } from './client';
import { type HistoryEntry, historyEntryText, historyFromStored } from './history-text';
import type { RedisKeys } from './keys';
import { BatchScript, LuaScript, scriptCommand, type TurnBatch } from './turn-batch';

/** How many recent events per user the live history keeps. */
export const LIVE_HISTORY_LENGTH = 200;
/**
 * The event types a live history keeps: those the api's recommendations weigh (the recommender's
 * `DEFAULT_HISTORY_TYPE_WEIGHTS`). Impressions and removals from the cart weigh nothing there, and a storefront
 * posts an impression for every item it shows: kept, ten a shelf pushed the shopper's views out of the newest
 * `RECS_HISTORY_LENGTH` the api reads (answers fell back to popular), and renewed the stamp, so the reply cache
 * missed after every shelf. Postgres keeps every event.
 */
export const LIVE_HISTORY_TYPES: ReadonlySet<string> = new Set(['view', 'click', 'fav', 'cart', 'purchase']);
/** Hourly trending buckets live this long (the trending window plus its baseline). */
export const TRENDING_BUCKET_TTL_SECONDS = 8 * 24 * 3600;
/**
 * A user's counted hash for an hour (`userTrendingCounted`) lives this long after it takes the hour: the hour is
 * then over and no longer the api's previous one (its events arrive from the hour's start on: their hour is the
 * earlier of their time and ingest's clock).
 */
const TRENDING_COUNTED_TTL_SECONDS = 2 * 3600;

export interface LiveEvent {
  userId: string;
  itemId: string;
  type: string;
  timestampMs: number;
  /** stored without its user (no personalization consent): it only feeds the item trending counters */
  anonymous?: boolean;
}

/** Trending counts by type: a purchase says more about demand than a view. */
const TRENDING_WEIGHT: Record<string, number> = { view: 1, click: 1, fav: 2, cart: 3, purchase: 5 };

/** How much one event of a type adds to its item's hourly trending counter (0: not counted). */
export const trendingWeight = (type: string): number => TRENDING_WEIGHT[type] ?? 0;

export const epochHourOf = (timestampMs: number) => Math.floor(timestampMs / 3_600_000);

/** Random per process start, so two processes (or one before and after a restart) never make the same token. */
const STAMP_PROCESS_PART = randomBytes(6).toString('base64url');
let stampsMade = 0;

/**
 * A `userStamp` token never handed out before: time, process and counter. Not a Redis INCR: erasure deletes the
 * stamp, a counter would start again from 1, and an old cached answer could carry that number.
 */
export function newUserStamp(): string {
  stampsMade += 1;
  return `${Date.now().toString(36)}.${STAMP_PROCESS_PART}.${stampsMade.toString(36)}`;
}

/** record-user-events.lua, read-user-history.lua and add-trending.lua, each sent with its key count by EVALSHA (`scriptCommand`). */
const recordUserEvents = new LuaScript('record-user-events');
const readUserHistoryScript = new LuaScript('read-user-history');
const addTrending = new LuaScript('add-trending');

/** Replies as text, as ioredis's own commands give them (a Command left to its default gives Buffers). */
const TEXT_REPLIES = { replyEncoding: 'utf8' } as const;

/** One record-user-events call's users (all in one slot on a cluster) and its arguments as they accumulate. */
interface UsersCall {
  keys: string[];
  counts: number[];
  entries: (string | number)[];
  /** the call's users in order (the script's u - 1) */
  userIds: string[];
  /** per user in order: their heaviest weight per epoch hour and item of the hours the script counts */
  heaviest: Map<number, Map<string, number>>[];
}

/**
 * record-user-events.lua's reply: the first failing write's error text ('' when none), then the trending
 * increments, user (u, 1-based in the call), epoch hour (as sent), weight and item id each.
 */
type UsersReply = [failure: string, ...increments: (string | number)[]];

/** What a group of events adds to one hour's trending counter, in both of add-trending.lua's forms. */
interface HourAdds {
  /** item id → weight: each user's as their counted hashes bound it, each anonymous or unread hour's event whole */
  counts: Map<string, number>;
  /** shopper (user id) → item id → the shopper's heaviest weight of the item among the events `counts` holds */
  shoppers: Map<string, Map<string, number>>;
}

/** Per epoch hour, what a group of events adds to the hour's trending counter (`HourAdds`). */
class TrendingAdds {
  readonly byHour = new Map<number, HourAdds>();

  /** `weight` added to `itemId`'s count of `hour`; `shopperWeight` is the shopper's heaviest weight of it. */
  add(hour: number, itemId: string, weight: number, shopper: string, shopperWeight: number) {
    let adds = this.byHour.get(hour);
    if (!adds) {
      adds = { counts: new Map(), shoppers: new Map() };
      this.byHour.set(hour, adds);
    }
    adds.counts.set(itemId, (adds.counts.get(itemId) ?? 0) + weight);
    let items = adds.shoppers.get(shopper);
    if (!items) {
      items = new Map();
      adds.shoppers.set(shopper, items);
    }
    items.set(itemId, Math.max(items.get(itemId) ?? 0, shopperWeight));
  }
}

/**
 * Appends the epoch hour, weight and item id of each of a user's weighted events (oldest first) of the hours the
 * api reads (this hour and the one before) to `args`, for record-user-events.lua to count the user once per item
 * and hour, and keeps the heaviest weight per hour and item in `heaviest`; a run of events of one item and hour (a
 * burst of views) goes once, with its heaviest weight. An event of an earlier hour (a backfill, a replay) is added
 * to `unread` as it is: no answer reads that hour's counter, and bounding it would cost Redis a counted hash per
 * user and hour for nothing. How many it appended.
 */
function appendTrendingEvents(
  userEvents: readonly LiveEvent[],
  receivedAtMs: number,
  args: (string | number)[],
  heaviest: Map<number, Map<string, number>>,
  unread: TrendingAdds,
) {
  const firstReadHour = epochHourOf(receivedAtMs) - 1;
  let appended = 0;
  for (const e of userEvents) {
    const weight = trendingWeight(e.type);
    if (weight === 0) continue;
    const hour = epochHourOf(Math.min(e.timestampMs, receivedAtMs));
    if (hour < firstReadHour) {
      unread.add(hour, e.itemId, weight, e.userId, weight);
      continue;
    }
    let items = heaviest.get(hour);
    if (!items) {
      items = new Map();
      heaviest.set(hour, items);
    }
    items.set(e.itemId, Math.max(items.get(e.itemId) ?? 0, weight));
    const last = args.length - 3;
    if (appended > 0 && args[last] === hour && args[last + 2] === e.itemId) {
      if (weight > (args[last + 1] as number)) args[last + 1] = weight;
      continue;
    }
    args.push(hour, weight, e.itemId);
    appended++;
  }
  return appended;
}

/**
 * One user's events of a batch oldest first by their time; events of one millisecond keep the order they came in
 * (a stable sort), the order they happened in. Usually already so (checked, not sorted).
 */
function inTimeOrder(events: LiveEvent[]): LiveEvent[] {
  for (let i = 1; i < events.length; i++)
    if (events[i]!.timestampMs < events[i - 1]!.timestampMs)
      return [...events].sort((a, b) => a.timestampMs - b.timestampMs);
  return events;
}

/** What `sendLiveEvents` sent, each part settling once Redis has applied it. */
export interface LiveEventsSent {
  /** every user's history, purchased set and new stamp */
  usersWritten: Promise<void>;
  /**
   * the hourly trending counters: sent once the users' writes answered what their events add (each shopper
   * counts once per item and hour), before `usersWritten` settles, on the same connections, so a command sent
   * afterwards on the same client sees them too; nothing a user's own next answer reads waits for them
   */
  trendingCounted: Promise<void>;
}

/**
 * Applies committed events to the live state: each user's capped recent history, their purchased set and a new
 * stamp, then hourly trending counters. Postgres stays the source of truth; this is a cache of it. Commands are
 * merged: one record-user-events call for all the users (per slot on a cluster, where a script's keys must share
 * one), one add-trending call per hour; Redis and ioredis time grow with the number of commands far more than with
 * their size. On a cluster each node gets its own pipeline. A part's failure rejects its promise; both are
 * handled here, so a caller that awaits only one leaves no unhandled rejection.
 * A shopper adds to an item's hour at most the weight of their heaviest event type of it in that hour, across
 * calls and processes (as the build's trending list counts them), in the hours the api reads (this one and the one
 * before): the user script keeps what each user has counted and answers what their events add, and the trending
 * calls follow its answers (one more round trip, no more commands). An anonymous event (no consent: no user to
 * bound) and an event of an earlier hour (no answer reads it) add their weight each time. An hour a rebuild
 * restarted takes, while the api reads it, each shopper's heaviest weight instead, bounded by what the hour's
 * shoppers hash holds (add-trending.lua; one more command each time, as the hour refuses the counts first).
 * An event counts in the trending hour of its own time, or of `receivedAtMs` (ingest's clock) when that is
 * earlier: an event from a client whose clock runs ahead would otherwise count in an hour the api does not read
 * yet, missing from trending now and a spike hours later. A user's events of types outside `LIVE_HISTORY_TYPES`
 * (impressions, removals from the cart) change nothing here.
 */
export function sendLiveEvents(
  redis: RedisClient,
  keys: RedisKeys,
  events: readonly LiveEvent[],
  receivedAtMs = Number.POSITIVE_INFINITY,
): LiveEventsSent {
  const historyByUser = new Map<string, LiveEvent[]>();
  const purchasesByUser = new Map<string, string[]>();
  // The anonymous events' and the unread hours' counts now; what the users' events add to the hours the api reads
  // joins them once the user scripts answer.
  const trending = new TrendingAdds();
  for (const e of events) {
    if (e.anonymous) {
      const weight = trendingWeight(e.type);
      // Its user id is its own: the event is its shopper.
      if (weight)
        trending.add(epochHourOf(Math.min(e.timestampMs, receivedAtMs)), e.itemId, weight, e.userId, weight);
      continue;
    }
    // Nor does trending count these types: the user's state does not change.
    if (!LIVE_HISTORY_TYPES.has(e.type)) continue;
    const history = historyByUser.get(e.userId);
    if (history) history.push(e);
    else historyByUser.set(e.userId, [e]);
    if (e.type === 'purchase') {
      const purchases = purchasesByUser.get(e.userId);
      if (purchases) purchases.push(e.itemId);
      else purchasesByUser.set(e.userId, [e.itemId]);
    }
  }
  const onCluster = redis instanceof Cluster;
  const callsBySlot = new Map<number, UsersCall>();
  for (const [userId, userEvents] of historyByUser) {
    const historyKey = keys.userHistory(userId);
    const slot = onCluster ? slotOf(historyKey) : 0;
    let call = callsBySlot.get(slot);
    if (!call) {
      call = { keys: [], counts: [], entries: [], userIds: [], heaviest: [] };
      callsBySlot.set(slot, call);
    }
    // Oldest first: the script appends them, or merges them in when they reach back before the stored newest.
    const sorted = inTimeOrder(userEvents);
    const history = sorted.length > LIVE_HISTORY_LENGTH ? sorted.slice(-LIVE_HISTORY_LENGTH) : sorted;
    const purchases = purchasesByUser.get(userId) ?? [];
    call.keys.push(
      historyKey,
      keys.userPurchased(userId),
      keys.userStamp(userId),
      keys.userTrendingCounted(userId, 0),
      keys.userTrendingCounted(userId, 1),
    );
    for (const e of history) call.entries.push(historyEntryText(e));
    for (const itemId of purchases) call.entries.push(itemId);
    const heaviest = new Map<number, Map<string, number>>();
    // Every event, not only the history's newest: a burst longer than the history counts too.
    const trendingEvents = appendTrendingEvents(sorted, receivedAtMs, call.entries, heaviest, trending);
    call.counts.push(history.length, purchases.length, trendingEvents);
    call.userIds.push(userId);
    call.heaviest.push(heaviest);
  }
  const pipelines = new PipelinesByNode(redis);
  const stamp = newUserStamp();
  const userCommands: Command[] = [];
  const calls = [...callsBySlot.values()];
  for (const call of calls) {
    const command = scriptCommand(redis, recordUserEvents, [
      call.keys.length,
      ...call.keys,
      stamp,
      LIVE_HISTORY_LENGTH,
      TRENDING_COUNTED_TTL_SECONDS,
      ...call.counts,
      ...call.entries,
    ]);
    userCommands.push(command);
    // The pipelines are ioredis Pipelines, whose sendCommand the ChainableCommander type leaves out.
    (pipelines.on(call.keys[0]!) as unknown as Pipeline).sendCommand(command);
  }
  // Each command's promise reports its own failure; the pipelines' summary would repeat the first.
  pipelines.exec().catch(() => {});
  const answered = Promise.allSettled(userCommands.map((command) => command.promise)).then((replies) => {
    let failure: unknown;
    for (const [c, reply] of replies.entries()) {
      if (reply.status === 'rejected') {
        failure ??= reply.reason;
        continue;
      }
      const [error, ...increments] = reply.value as UsersReply;
      if (error) failure ??= new ReplyError(error);
      const call = calls[c]!;
      for (let i = 0; i < increments.length; i += 4) {
        const u = Number(increments[i]) - 1;
        const hour = Number(increments[i + 1]);
        const itemId = String(increments[i + 3]);
        const heaviest = call.heaviest[u]!.get(hour)!.get(itemId)!;
        trending.add(hour, itemId, Number(increments[i + 2]), call.userIds[u]!, heaviest);
      }
    }
    return { failure, trendingCounted: sendTrendingAdds(redis, keys, trending) };
  });
  const sent: LiveEventsSent = {
    usersWritten: answered.then(({ failure }) => {
      if (failure !== undefined) throw failure;
    }),
    trendingCounted: answered.then(({ trendingCounted }) => trendingCounted),
  };
  sent.usersWritten.catch(() => {});
  sent.trendingCounted.catch(() => {});
  return sent;
}

/** add-trending.lua's refusals: the hour takes the other form. */
const TRENDING_REFUSED = { counts: -1, shoppers: -2 } as const;

/** How many hex digits of a shopper's hashed id head their shoppers-hash fields. */
const SHOPPER_FIELD_HEAD_LENGTH = 16;

/**
 * The head of every shoppers-hash field of one shopper (`shopperItemField`): their id hashed to a fixed length
 * (the hash names no one outright), in hex digits, which a HSCAN MATCH pattern takes unescaped.
 */
const shopperFieldHead = (shopper: string) =>
  createHash('sha1').update(shopper).digest('hex').slice(0, SHOPPER_FIELD_HEAD_LENGTH);

/** A shoppers-hash field (`trendingHourShoppers`): the shopper's `shopperFieldHead`, then the item id. */
const shopperItemField = (shopper: string, itemId: string) => shopperFieldHead(shopper) + itemId;

/** An add-trending call of one hour in one form (add-trending.lua). */
function addTrendingCommand(
  redis: RedisClient,
  keys: RedisKeys,
  hour: number,
  form: 'counts' | 'shoppers',
  adds: HourAdds,
): Command {
  const pairs: (string | number)[] = [];
  if (form === 'counts') {
    for (const [itemId, weight] of adds.counts) pairs.push(weight, itemId);
  } else {
    for (const [shopper, items] of adds.shoppers)
      for (const [itemId, weight] of items) pairs.push(shopperItemField(shopper, itemId), itemId, weight);
  }
  return scriptCommand(redis, addTrending, [
    2,
    keys.trendingHour(hour),
    keys.trendingHourShoppers(hour),
    TRENDING_BUCKET_TTL_SECONDS,
    form,
    ...pairs,
  ]);
}

/**
 * Sends each hour's adds as counts (one add-trending call per hour, pipelined per node, at once: a command sent
 * after this on the same client sees them), then, for an hour that refuses them (a rebuild restarted it), as
 * shoppers, and so on while the hour switches (a rebuild restarting it again, its shoppers hash expiring). Settles
 * once every hour took its adds.
 */
async function sendTrendingAdds(redis: RedisClient, keys: RedisKeys, trending: TrendingAdds): Promise<void> {
  const pipelines = new PipelinesByNode(redis);
  const firstSent = [...trending.byHour].map(([hour, adds]) => {
    const command = addTrendingCommand(redis, keys, hour, 'counts', adds);
    (pipelines.on(keys.trendingHour(hour)) as unknown as Pipeline).sendCommand(command);
    return { hour, adds, command };
  });
  pipelines.exec().catch(() => {});
  const tookShoppers = new TrendingAdds();
  await Promise.all(
    firstSent.map(async ({ hour, adds, command }) => {
      let reply = Number(await command.promise);
      let form: 'counts' | 'shoppers' = 'counts';
      // Each switch follows a change of the hour's form since the last call: two in a row is a rebuild at work.
      for (let switches = 0; reply < 0; switches++) {
        if (switches === 3) throw new Error(`trending hour ${hour} kept switching forms`);
        form = reply === TRENDING_REFUSED.counts ? 'shoppers' : 'counts';
        const again = addTrendingCommand(redis, keys, hour, form, adds);
        redis.sendCommand(again);
        reply = Number(await again.promise);
      }
      if (form === 'shoppers') tookShoppers.byHour.set(hour, adds);
    }),
  );
  await dropForgottenShoppers(redis, keys, tookShoppers);
}

/**
 * Deletes from the hours' shoppers hashes the fields just written (`adds`) of the shoppers forgotten meanwhile:
 * erased (their history key holds the erasure's mark) or withdrawn (their profile holds withdrawn personalization
 * consent: their events since are anonymous, so no field of theirs is due). Each forgetting marks the user before
 * it sweeps the hashes (`eraseUserLiveState`; a withdrawal writes the profile first, `forgetUserTraces`), so a
 * field its sweep did not find was written after the mark, by a writer that finds the mark here: ingest, whose
 * user script answered before the forgetting, or a rebuild, which read Postgres before it. What the fields added
 * to the counters stays (a forgetting leaves the counters as they are). One GETRANGE and one HGET per shopper,
 * then one HDEL per hour and forgotten shopper, pipelined per node.
 */
async function dropForgottenShoppers(redis: RedisClient, keys: RedisKeys, adds: TrendingAdds): Promise<void> {
  const shoppers = new Set<string>();
  for (const hourAdds of adds.byHour.values())
    for (const shopper of hourAdds.shoppers.keys()) shoppers.add(shopper);
  if (shoppers.size === 0) return;
  const marks = new PipelinesByNode(redis);
  const checks = [...shoppers].map((shopper) => {
    const historyKey = keys.userHistory(shopper);
    const head = new Command('getrange', [historyKey, 0, 0], TEXT_REPLIES);
    const consent = new Command('hget', [keys.userProfile(shopper), 'personalization'], TEXT_REPLIES);
    const pipeline = marks.on(historyKey) as unknown as Pipeline;
    pipeline.sendCommand(head);
    pipeline.sendCommand(consent);
    return Promise.all([
      // A history of the layout before (a list) refuses GETRANGE: it is no mark.
      head.promise.then(
        (text) => String(text) === ERASURE_MARK[0],
        () => false,
      ),
      consent.promise.then((flag) => flag === '0'),
    ]).then(([erased, withdrawn]) => ({ shopper, forgotten: erased || withdrawn }));
  });
  marks.exec().catch(() => {});
  const forgotten = (await Promise.all(checks))
    .filter((check) => check.forgotten)
    .map((check) => check.shopper);
  if (forgotten.length === 0) return;
  const deletes = new PipelinesByNode(redis);
  for (const [hour, hourAdds] of adds.byHour) {
    const shoppersKey = keys.trendingHourShoppers(hour);
    for (const shopper of forgotten) {
      const items = hourAdds.shoppers.get(shopper);
      if (!items) continue;
      const fields = [...items.keys()].map((itemId) => shopperItemField(shopper, itemId));
      deletes.on(shoppersKey).hdel(shoppersKey, ...fields);
    }
  }
  await deletes.exec();
}

/** `sendLiveEvents`, settled once every part is applied; the first failure is thrown. */
export async function recordLiveEvents(
  redis: RedisClient,
  keys: RedisKeys,
  events: readonly LiveEvent[],
  receivedAtMs?: number,
): Promise<void> {
  if (events.length === 0) return;
  const { usersWritten, trendingCounted } = sendLiveEvents(redis, keys, events, receivedAtMs);
  await usersWritten;
  await trendingCounted;
}

export interface UserLiveState {
  userId: string;
  /** newest first, at most LIVE_HISTORY_LENGTH */
  history: HistoryEntry[];
  purchased: string[];
}

export interface ReplaceUserLiveStateOptions {
  /**
   * The state was read before ingest's latest writes (a rebuild reading Postgres while events arrive): each user's
   * stored history entries newer than their newest given one are kept after the given ones, and the items of the
   * purchases among them stay purchased. Without it the given state replaces the stored one exactly.
   */
  keepNewerStored?: boolean;
  /** the clock that names the trending hours whose shoppers hashes a forgotten user is swept from (default now) */
  nowMs?: number;
}

/** How many users `replaceUserLiveState` replaced, and which it wrote nothing of the given state for, and why. */
export interface UserLiveStatesReplaced {
  /** users replaced */
  replaced: number;
  /** users erased within the hour (their erasure's mark is in the history key): nothing written */
  erased: string[];
  /** users whose profile holds withdrawn personalization consent: history and purchases deleted instead */
  withdrawn: string[];
}

const replaceUserLiveStateScript = new LuaScript('replace-user-live-state');
/** replace-user-live-state.lua's return codes. */
const REPLACE_OUTCOME = { replaced: 1, erased: 0, withdrawn: 2 } as const;

/**
 * One script call per user, pipelined per node (each by the key `call` names), as replace-user-live-state.lua and
 * replace-user-trending-counted.lua are sent; their outcomes (`REPLACE_OUTCOME`) counted. The first failure is
 * thrown once every reply is in.
 */
async function replacePerUser<U extends { userId: string }>(
  redis: RedisClient,
  users: readonly U[],
  call: (user: U) => { key: string; command: Command },
): Promise<{ result: UserLiveStatesReplaced; outcomes: number[] }> {
  const result: UserLiveStatesReplaced = { replaced: 0, erased: [], withdrawn: [] };
  const pipelines = new PipelinesByNode(redis);
  const commands = users.map((user) => {
    const { key, command } = call(user);
    // The pipelines are ioredis Pipelines, whose sendCommand the ChainableCommander type leaves out.
    (pipelines.on(key) as unknown as Pipeline).sendCommand(command);
    return command;
  });
  // Each command's promise reports its own failure; the pipelines' summary would repeat the first.
  pipelines.exec().catch(() => {});
  const replies = await Promise.allSettled(commands.map((command) => command.promise));
  const outcomes = replies.map((reply, i) => {
    if (reply.status === 'rejected') throw reply.reason;
    const outcome = Number(reply.value);
    const { userId } = users[i]!;
    if (outcome === REPLACE_OUTCOME.replaced) result.replaced++;
    else if (outcome === REPLACE_OUTCOME.erased) result.erased.push(userId);
    else if (outcome === REPLACE_OUTCOME.withdrawn) result.withdrawn.push(userId);
    return outcome;
  });
  return { result, outcomes };
}

/**
 * Replaces users' history and purchased set with the given state (rebuilding the live state from Postgres) and
 * renews their stamps, one script call per user (replace-user-live-state.lua) pipelined per node, each checking
 * the user's erasure mark and consent in the step that writes: a user erased or withdrawn after the state was read
 * gets nothing of it. A withdrawn user, and a user given no state (forgetting), then loses every other trace of
 * their events (`forgetUserTraces`, once for all of them: pass many users in one call rather than one call per
 * user); a rebuilt user's counted hashes stay, so their next events do not count again what they counted already.
 */
export async function replaceUserLiveState(
  redis: RedisClient,
  keys: RedisKeys,
  users: readonly UserLiveState[],
  options: ReplaceUserLiveStateOptions = {},
): Promise<UserLiveStatesReplaced> {
  if (users.length === 0) return { replaced: 0, erased: [], withdrawn: [] };
  const stamp = newUserStamp();
  const { result, outcomes } = await replacePerUser(redis, users, (u) => {
    const historyKey = keys.userHistory(u.userId);
    // Oldest first, as the script writes them.
    const history = u.history.slice(0, LIVE_HISTORY_LENGTH).reverse().map(historyEntryText);
    const command = scriptCommand(redis, replaceUserLiveStateScript, [
      4,
      historyKey,
      keys.userPurchased(u.userId),
      keys.userStamp(u.userId),
      keys.userProfile(u.userId),
      stamp,
      LIVE_HISTORY_LENGTH,
      options.keepNewerStored ? '1' : '0',
      history.length,
      ...history,
      ...u.purchased,
    ]);
    return { key: historyKey, command };
  });
  // A user without live state is forgotten: what they counted of trending names the items they saw.
  const forgotten = users
    .filter(
      (user, i) =>
        outcomes[i] === REPLACE_OUTCOME.withdrawn ||
        (outcomes[i] === REPLACE_OUTCOME.replaced &&
          user.history.length === 0 &&
          user.purchased.length === 0),
    )
    .map((user) => user.userId);
  await forgetUserTraces(redis, keys, forgotten, options.nowMs ?? Date.now());
  return result;
}

const replaceTrendingCountedScript = new LuaScript('replace-user-trending-counted');

/** What a rebuild read that one user counted of trending: per epoch hour the api reads, item id → weight. */
export interface UserTrendingCounted {
  userId: string;
  /** the weight of the user's heaviest event type of each item in the hour (`trendingWeight`) */
  hours: ReadonlyMap<number, ReadonlyMap<string, number>>;
}

/**
 * Writes into users' counted hashes (`userTrendingCounted`) what a rebuild of the trending counters read that they
 * counted, so each one's next event of an item and hour the rebuild counted adds only what it weighs above it, as
 * if ingest had applied the user's events one by one. One script call per user (replace-user-trending-counted.lua)
 * pipelined per node: a hash holding the hour keeps the heavier weight per item (ingest may have counted events
 * since the read), one holding an older hour is replaced; an erased user gets nothing written, a withdrawn user's
 * hashes are deleted (`erased`, `withdrawn`).
 */
export async function replaceTrendingCounted(
  redis: RedisClient,
  keys: RedisKeys,
  users: readonly UserTrendingCounted[],
): Promise<UserLiveStatesReplaced> {
  if (users.length === 0) return { replaced: 0, erased: [], withdrawn: [] };
  const { result } = await replacePerUser(redis, users, ({ userId, hours }) => {
    const historyKey = keys.userHistory(userId);
    const args: (string | number)[] = [TRENDING_COUNTED_TTL_SECONDS];
    for (const [hour, items] of hours) {
      args.push(hour, items.size);
      for (const [itemId, weight] of items) args.push(itemId, weight);
    }
    const command = scriptCommand(redis, replaceTrendingCountedScript, [
      4,
      historyKey,
      keys.userProfile(userId),
      keys.userTrendingCounted(userId, 0),
      keys.userTrendingCounted(userId, 1),
      ...args,
    ]);
    return { key: historyKey, command };
  });
  return result;
}

/**
 * Deletes hourly trending counters, so a rebuild can count them again from Postgres. The hours' keys lie in
 * different cluster slots: one UNLINK each, pipelined per node.
 */
export async function clearTrendingHours(redis: RedisClient, keys: RedisKeys, epochHours: readonly number[]) {
  if (epochHours.length === 0) return;
  const pipelines = new PipelinesByNode(redis);
  for (const hour of epochHours) {
    const hourKey = keys.trendingHour(hour);
    pipelines.on(hourKey).unlink(hourKey);
  }
  await pipelines.exec();
}

/**
 * Restarts the hours' trending counters for a rebuild that counts them again from Postgres: per hour, in one
 * transaction (the two keys share a slot), the counter is emptied and its shoppers hash (`trendingHourShoppers`)
 * created, living while the api reads the hour by `nowMs` (the rebuild's clock). From then on the hour takes each
 * shopper's heaviest weight per item, above what the hash holds of them, from ingest and the rebuild alike
 * (`addTrendingShoppers`, add-trending.lua): an event counts once, whichever sends it first.
 */
export async function restartTrendingHours(
  redis: RedisClient,
  keys: RedisKeys,
  epochHours: readonly number[],
  nowMs: number,
): Promise<void> {
  await Promise.all(
    epochHours.map(async (hour) => {
      const shoppers = keys.trendingHourShoppers(hour);
      const replies = await redis
        .multi()
        .unlink(keys.trendingHour(hour), shoppers)
        .hset(shoppers, '', hour)
        .pexpire(shoppers, Math.max(1, (hour + 2) * 3_600_000 - nowMs))
        .exec();
      const failed = replies?.find(([error]) => error);
      if (failed) throw failed[0];
    }),
  );
}

/** One shopper's weight of an item in an hour, as `addTrendingShoppers` adds it. */
export interface ShopperTrendingWeight {
  epochHour: number;
  /** the user id (an anonymous event's own) */
  shopper: string;
  itemId: string;
  weight: number;
}

/**
 * Adds shoppers' weights to hours `restartTrendingHours` restarted: each shopper counts once per item and hour, by
 * their heaviest weight, with what ingest sent since the restart. One add-trending call per hour, pipelined per
 * node; then the fields of shoppers erased or withdrawn meanwhile are deleted again (`dropForgottenShoppers`).
 * Throws when an hour has no shoppers hash (not restarted, or restarted so long ago that it expired).
 */
export async function addTrendingShoppers(
  redis: RedisClient,
  keys: RedisKeys,
  weights: readonly ShopperTrendingWeight[],
): Promise<void> {
  const trending = new TrendingAdds();
  for (const w of weights) trending.add(w.epochHour, w.itemId, w.weight, w.shopper, w.weight);
  const pipelines = new PipelinesByNode(redis);
  const sent = [...trending.byHour].map(([hour, adds]) => {
    const command = addTrendingCommand(redis, keys, hour, 'shoppers', adds);
    (pipelines.on(keys.trendingHour(hour)) as unknown as Pipeline).sendCommand(command);
    return { hour, command };
  });
  pipelines.exec().catch(() => {});
  await Promise.all(
    sent.map(async ({ hour, command }) => {
      if (Number(await command.promise) === TRENDING_REFUSED.shoppers)
        throw new Error(`trending hour ${hour} was not restarted: it takes no shoppers`);
    }),
  );
  // The rebuild read Postgres before a shopper's erasure or withdrawal may have committed.
  await dropForgottenShoppers(redis, keys, trending);
}

export interface TrendingCount {
  epochHour: number;
  itemId: string;
  /** already weighted by event type */
  weight: number;
}

/** Adds weighted counts to hourly trending counters, each expiring TRENDING_BUCKET_TTL_SECONDS after its hour. */
export async function addTrendingCounts(
  redis: RedisClient,
  keys: RedisKeys,
  counts: readonly TrendingCount[],
): Promise<void> {
  if (counts.length === 0) return;
  const pipelines = new PipelinesByNode(redis);
  const hours = new Set<number>();
  for (const c of counts) {
    const hourKey = keys.trendingHour(c.epochHour);
    pipelines.on(hourKey).zincrby(hourKey, c.weight, c.itemId);
    hours.add(c.epochHour);
  }
  for (const hour of hours) {
    const hourKey = keys.trendingHour(hour);
    pipelines.on(hourKey).expireat(hourKey, hour * 3600 + TRENDING_BUCKET_TTL_SECONDS);
  }
  await pipelines.exec();
}

/**
 * Deletes a user's history and purchased set but keeps their profile (it records the withdrawn consent), with a
 * new stamp, then what else links their events to them (`forgetUserTraces`); through the replace script, so an
 * erasure that reached Redis first keeps its mark (false then). `nowMs` names the trending hours swept.
 */
export async function forgetUserHistory(
  redis: RedisClient,
  keys: RedisKeys,
  userId: string,
  nowMs = Date.now(),
): Promise<boolean> {
  const { erased } = await replaceUserLiveState(redis, keys, [{ userId, history: [], purchased: [] }], {
    nowMs,
  });
  return erased.length === 0;
}

/**
 * Deletes the cached answers and first-miss marks each user's reply index named when it was read (`queryKeys`) and
 * takes just those out of the index: one a reader enters since stays in it. Pipelined per node; how many of the
 * keys existed.
 */
async function deleteIndexedReplies(
  redis: RedisClient,
  keys: RedisKeys,
  indexed: readonly { userId: string; queryKeys: readonly string[] }[],
): Promise<number> {
  const deletes = new PipelinesByNode(redis);
  const unlinked: Promise<unknown>[] = [];
  for (const { userId, queryKeys } of indexed) {
    if (queryKeys.length === 0) continue;
    const indexKey = keys.userReplyIndex(userId);
    const pipeline = deletes.on(indexKey) as unknown as Pipeline;
    const unlink = new Command(
      'unlink',
      queryKeys.map((queryKey) => keys.userReply(userId, queryKey)),
    );
    pipeline.sendCommand(unlink);
    pipeline.zrem(indexKey, ...queryKeys);
    unlinked.push(unlink.promise);
  }
  if (unlinked.length === 0) return 0;
  const [, counts] = await Promise.all([deletes.exec(), Promise.all(unlinked)]);
  return counts.reduce<number>((sum, count) => sum + Number(count), 0);
}

/**
 * Deletes what links forgotten users' events to them beyond their history and purchases, as an erasure does:
 * what they counted of trending (`userTrendingCounted`), their cached answers and first-miss marks (through their
 * reply index: an answer built from the forgotten history stayed until its TTL) and their fields of the trending
 * hours' shoppers hashes (`sweepShopperFields`, one pass for all of them). Called once their stamp is new and
 * their profile, for a withdrawal, holds the withdrawn consent: a reply write reaching Redis later stores nothing
 * (its entry's stamp is gone, user-reply.lua), and a shoppers field written later is deleted by its writer, which
 * finds the withdrawn consent (`dropForgottenShoppers`). Only the reply keys read leave the index: one a reader of
 * the new stamp enters stays in it.
 */
async function forgetUserTraces(
  redis: RedisClient,
  keys: RedisKeys,
  userIds: readonly string[],
  nowMs: number,
) {
  if (userIds.length === 0) return;
  const deleteReplies = async () => {
    const reads = new PipelinesByNode(redis);
    const indexed = userIds.map((userId) => {
      const indexKey = keys.userReplyIndex(userId);
      const pipeline = reads.on(indexKey) as unknown as Pipeline;
      pipeline.unlink(keys.userTrendingCounted(userId, 0), keys.userTrendingCounted(userId, 1));
      const queryKeys = new Command('zrange', [indexKey, 0, -1], TEXT_REPLIES);
      pipeline.sendCommand(queryKeys);
      return queryKeys.promise as Promise<string[]>;
    });
    const [, ...queryKeysByUser] = await Promise.all([reads.exec(), ...indexed]);
    await deleteIndexedReplies(
      redis,
      keys,
      queryKeysByUser.map((queryKeys, i) => ({ userId: userIds[i]!, queryKeys })),
    );
  };
  await Promise.all([deleteReplies(), sweepShopperFields(redis, keys, userIds, nowMs)]);
}

export interface UserProfileState {
  personalization: boolean;
  push: boolean;
  timezone: string | null;
  /** the profile's revision in Postgres: a write older than the stored profile changes nothing */
  revision: number;
}

/**
 * Writes the consent flags and time zone the serving paths read, then a new stamp (the answers depend on them),
 * unless Redis holds a later revision or the mark of a later erasure (write-user-profile.lua). True when written.
 */
export async function writeUserProfile(
  redis: RedisClient,
  keys: RedisKeys,
  userId: string,
  profile: UserProfileState,
): Promise<boolean> {
  const written = await redis.elevensWriteUserProfile(
    keys.userProfile(userId),
    keys.userStamp(userId),
    keys.userHistory(userId),
    profile.revision,
    profile.personalization ? '1' : '0',
    profile.push ? '1' : '0',
    profile.timezone ?? '',
    newUserStamp(),
  );
  return written === 1;
}

const readUserStateScript = new BatchScript('read-user-state', 3);

/** What a recommendation reads of a user's live state. */
export interface UserStateRead {
  /** the newest `historyLength` events, newest first (entries that are not `[type, itemId, timestampMs]` left out) */
  history: HistoryEntry[];
  purchased: string[];
  /** the user's personalization consent: false only once withdrawn (never written: consent by default) */
  personalization: boolean;
}

/**
 * A user's recent history, purchases and consent in one script call (read-user-state.lua), sent through the
 * TurnBatch with the other commands of this event-loop turn. The history arrives as its stored text.
 */
export async function readUserState(
  batch: TurnBatch,
  keys: RedisKeys,
  userId: string,
  historyLength: number,
): Promise<UserStateRead> {
  const reply = (await batch.send(readUserStateScript, [
    keys.userHistory(userId),
    keys.userPurchased(userId),
    keys.userProfile(userId),
    historyLength,
  ])) as UserStateReply;
  return userStateOf(reply, historyLength);
}

/** A user's newest `length` live history entries, newest first, read as the serving reads them. */
export async function readUserHistory(
  redis: RedisClient,
  keys: RedisKeys,
  userId: string,
  length = LIVE_HISTORY_LENGTH,
): Promise<HistoryEntry[]> {
  const command = scriptCommand(redis, readUserHistoryScript, [1, keys.userHistory(userId), length]);
  redis.sendCommand(command);
  return historyFromStored(String(await command.promise), length);
}

/** A script's reply of a user's state: the history's stored text, purchased ids, personalization flag. */
export type UserStateReply = [historyText: string, purchased: string[], personalization: string | null];

/**
 * The state a script read (`readUserState`, `readUserReply`): the newest `historyLength` history entries parsed,
 * consent as a flag.
 */
export function userStateOf(
  [historyText, purchased, personalization]: UserStateReply,
  historyLength: number,
): UserStateRead {
  return {
    history: historyFromStored(historyText, historyLength),
    purchased,
    personalization: personalization !== '0',
  };
}

/**
 * What an erasure leaves in the user's history key for ERASURE_MARK_MS, followed by ':' and the erasure's revision:
 * no history to a reader, no history, purchase or stamp written by record-user-events.lua while it is there (its
 * first character, '~', is what the scripts look for: a history text starts with a digit), and no profile of an
 * earlier revision written by write-user-profile.lua.
 */
export const ERASURE_MARK = '~erased';
/**
 * How long the erasure's mark stays: far longer than a live-state write of events committed before the erasure
 * can still be on its way (ingest stops waiting for it after INGEST_LIVE_STATE_TIMEOUT_MS, but the command stays
 * sent, and ioredis sends one whose reply a lost connection took again after reconnecting, at most three times, a
 * few seconds apart).
 */
export const ERASURE_MARK_MS = 3_600_000;

/**
 * The epoch hours whose shoppers hash (`trendingHourShoppers`) may live at `nowMs`: those `restartTrendingHours`
 * keeps one for, the hours the api reads (this one and the one before), and one more on each side, as the rebuild
 * that restarted them ran on another machine's clock.
 */
const hoursWithShoppers = (nowMs: number) => {
  const hour = epochHourOf(nowMs);
  return [hour - 2, hour - 1, hour, hour + 1];
};

/** How many fields one HSCAN of a shoppers hash visits: about a millisecond of Redis's time. */
const SHOPPERS_SCAN_COUNT = 1000;

/**
 * Deletes the shoppers' fields (each one's `shopperFieldHead`) from the shoppers hash of each hour that may have
 * one (`hoursWithShoppers`), and no other field: a page at a time (HSCAN), the hours at once. An hour without a
 * hash (no rebuild restarted it: the usual case) costs one HSCAN answered empty at once. One shopper's fields are
 * found by MATCH; many shoppers' by one pass over each hash for all of them, not one pass per shopper. A field
 * written during the pass may be missed, which its writer deletes again (`dropForgottenShoppers`).
 */
async function sweepShopperFields(
  redis: RedisClient,
  keys: RedisKeys,
  shoppers: readonly string[],
  nowMs: number,
) {
  if (shoppers.length === 0) return;
  const heads = new Set(shoppers.map(shopperFieldHead));
  // One shopper's fields are found by their head; many shoppers' in one pass over each hash.
  const only = heads.size === 1 ? `${[...heads][0]}*` : null;
  await Promise.all(
    hoursWithShoppers(nowMs).map(async (hour) => {
      const shoppersKey = keys.trendingHourShoppers(hour);
      let cursor = '0';
      do {
        const [next, page] =
          only === null
            ? await redis.hscan(shoppersKey, cursor, 'COUNT', SHOPPERS_SCAN_COUNT)
            : await redis.hscan(shoppersKey, cursor, 'MATCH', only, 'COUNT', SHOPPERS_SCAN_COUNT);
        cursor = next;
        // Field, value, field, value, …
        const fields = page.filter(
          (field, i) => i % 2 === 0 && heads.has(field.slice(0, SHOPPER_FIELD_HEAD_LENGTH)),
        );
        if (fields.length > 0) await redis.hdel(shoppersKey, ...fields);
      } while (cursor !== '0');
    }),
  );
}

/**
 * Deletes every key about a user, the stamp included, and leaves the erasure's mark in their history key (in one
 * transaction, the user's keys share a cluster slot): the live-state write of an event the erasure deleted from
 * Postgres may reach Redis after this (this or another ingest process committed it just before), and must not
 * bring their history back; nor may a profile write of a revision before `revision`, the erasure's place in the
 * order of the user's profile writes (`eraseUser` in packages/db; 0, as a test without Postgres may pass, holds
 * back no profile write). The same transaction reads the user's reply index (`userReplyIndex`), then their cached
 * answers and first-miss marks it names are deleted with it: after the mark, no reply write stores one
 * (user-reply.lua), and no read leaves a mark without the stamp. Then deletes the user's fields from the
 * trending hours' shoppers hashes (their hashed id and the items they counted, kept while the api reads an hour a
 * rebuild restarted), after the mark, each hash in its hour's slot (`sweepShopperFields`); the hours' counters
 * keep what the user added. Returns how many of the user's keys existed, the trending counted hashes
 * (`userTrendingCounted`), reply keys and their index included and an earlier erasure's mark not counted.
 */
export async function eraseUserLiveState(
  redis: RedisClient,
  keys: RedisKeys,
  userId: string,
  revision = 0,
  nowMs = Date.now(),
): Promise<number> {
  const historyKey = keys.userHistory(userId);
  const replyIndexKey = keys.userReplyIndex(userId);
  const [history, indexed, ...written] =
    (await redis
      .multi()
      .getrange(historyKey, 0, 0)
      .zrange(replyIndexKey, 0, -1)
      .unlink(...keys.keysAboutUser(userId))
      .unlink(keys.userTrendingCounted(userId, 0), keys.userTrendingCounted(userId, 1))
      .set(historyKey, `${ERASURE_MARK}:${revision}`, 'PX', ERASURE_MARK_MS)
      .exec()) ?? [];
  // The first reply is an error for a history of the layout before (a list): no mark either.
  const failed = [indexed, ...written].find((reply) => reply?.[0]);
  if (failed) throw failed[0];
  const queryKeys = indexed![1] as string[];
  // The index counts once.
  const deleteReplies = async () =>
    queryKeys.length === 0 ? 0 : (await deleteIndexedReplies(redis, keys, [{ userId, queryKeys }])) + 1;
  const [, replyKeys] = await Promise.all([
    sweepShopperFields(redis, keys, [userId], nowMs),
    deleteReplies(),
  ]);
  const marked = history?.[1] === ERASURE_MARK[0];
  return Number(written[0]![1]) + Number(written[1]![1]) + replyKeys - (marked ? 1 : 0);
}
