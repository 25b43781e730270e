import { ensureCapacity } from './growable';
import { seededSamplePositions } from './sampling';
import { EVENT_TYPE_CODES, type EventTypeName, eventTypeCode, type Interactions } from './types';
import { requireFinite, requireInteger, requirePositive } from './validate';

export interface BuildInputOptions {
  /** weight of one event of each type; 0 means the type adds nothing to the interactions */
  typeWeights: Record<EventTypeName, number>;
  /** an event's weight halves every halfLifeDays of age (Infinity = no decay) */
  halfLifeDays: number;
  /** "now" of the build: ages and trending windows are measured back from here */
  referenceTimeMs: number;
  /** per user, keep the most recent distinct items (by each item's latest event) */
  maxItemsPerUser: number;
  /** per item, keep a seeded random sample of this many users */
  maxUsersPerItem: number;
  /** seed of that sample (an integer; its low 32 bits are used) */
  seed: number;
  /** trending recent window: (ref − trendingRecentHours, ref] */
  trendingRecentHours: number;
  /** trending baseline window: (ref − trendingBaselineHours, ref − trendingRecentHours] */
  trendingBaselineHours: number;
}

export const DEFAULT_TYPE_WEIGHTS: Readonly<Record<EventTypeName, number>> = Object.freeze({
  view: 1,
  fav: 2,
  cart: 3,
  purchase: 5,
  click: 1,
  impression: 0,
  remove_cart: 0,
});

/** Raw events as parallel columns, event e being (users[e], items[e], types[e], times[e], sessions[e]). */
export interface EventColumns {
  users: Uint32Array;
  items: Uint32Array;
  /** index into EVENT_TYPE_CODES */
  types: Uint8Array;
  /** epoch ms */
  times: Float64Array;
  /** dense session index, -1 = none */
  sessions: Int32Array;
}

/** Distinct items per basket in CSR form; items ascending within a basket. */
export interface Baskets {
  /** length numBaskets + 1 */
  ptr: Uint32Array;
  itemIdx: Uint32Array;
  /** the user of each basket (bought-together support counts shoppers, not baskets) */
  users: Uint32Array;
}

export interface BuildInput {
  interactions: Interactions;
  /**
   * Σ over users of the heaviest decayed weight (typeWeight × decay) among each user's events of the item, before
   * the caps: a shopper counts once, by their weightiest event, so one bot's thousand purchases are one purchase
   */
  itemPopularity: Float64Array;
  /** distinct users with a positive-weight event per item, before the caps */
  itemUsers: Uint32Array;
  /**
   * Σ over users of the heaviest typeWeight among each user's events of the item in (ref − recentHours, ref]: a
   * shopper counts once, by the most they did, so one user's burst of views is one view, not a trend
   */
  trendingRecent: Float64Array;
  /** the same over (ref − baselineHours, ref − recentHours] */
  trendingBaseline: Float64Array;
  /** distinct users with a positive-weight event of the item in (ref − recentHours, ref] */
  trendingRecentUsers: Uint32Array;
  baskets: Baskets;
}

const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;
const CART = eventTypeCode('cart');
const PURCHASE = eventTypeCode('purchase');

/**
 * Accumulates raw events (dense user/item indexes) in growable typed arrays and turns them into the build
 * input: decayed per-(user,item) weights with per-user and per-item caps, popularity, trending counts and
 * baskets. Everything is counting sorts over the events; nothing is per-event objects.
 */
export class InteractionsBuilder {
  private readonly opts: BuildInputOptions;
  private readonly weightByType: Float64Array;
  private count = 0;
  private users: Uint32Array;
  private items: Uint32Array;
  private types: Uint8Array;
  private times: Float64Array;
  private sessions: Int32Array;

  /** `initialCapacity` pre-sizes the event buffers when the event count is known, avoiding regrowth. */
  constructor(opts: BuildInputOptions, initialCapacity = 1024) {
    requirePositive('halfLifeDays', opts.halfLifeDays);
    requireFinite('referenceTimeMs', opts.referenceTimeMs, Number.NEGATIVE_INFINITY);
    requireInteger('maxItemsPerUser', opts.maxItemsPerUser, 1);
    requireInteger('maxUsersPerItem', opts.maxUsersPerItem, 1);
    requireInteger('seed', opts.seed, Number.MIN_SAFE_INTEGER);
    requirePositive('trendingRecentHours', opts.trendingRecentHours);
    if (!(opts.trendingBaselineHours > opts.trendingRecentHours)) {
      throw new RangeError('trendingBaselineHours must be greater than trendingRecentHours');
    }
    this.opts = opts;
    this.weightByType = new Float64Array(EVENT_TYPE_CODES.length);
    for (let code = 0; code < EVENT_TYPE_CODES.length; code++) {
      const name = EVENT_TYPE_CODES[code]!;
      const weight = opts.typeWeights[name];
      requireFinite(`typeWeights.${name}`, weight, 0);
      this.weightByType[code] = weight;
    }
    const capacity = Math.max(1, initialCapacity);
    this.users = new Uint32Array(capacity);
    this.items = new Uint32Array(capacity);
    this.types = new Uint8Array(capacity);
    this.times = new Float64Array(capacity);
    this.sessions = new Int32Array(capacity);
  }

  /**
   * `sessionIdx` (a dense index, ≥ 0) groups a user's cart/purchase events into a basket (the same index of two
   * users makes two baskets); without it (-1) the basket is (user, UTC day).
   */
  add(userIdx: number, itemIdx: number, typeCode: number, timestampMs: number, sessionIdx = -1): void {
    if (!(typeCode >= 0 && typeCode < EVENT_TYPE_CODES.length))
      throw new RangeError(`bad event type ${typeCode}`);
    if (!Number.isFinite(timestampMs)) throw new RangeError(`bad timestamp ${timestampMs}`);
    const n = this.count;
    if (n === this.users.length) {
      this.users = ensureCapacity(this.users, n + 1);
      this.items = ensureCapacity(this.items, n + 1);
      this.types = ensureCapacity(this.types, n + 1);
      this.times = ensureCapacity(this.times, n + 1);
      this.sessions = ensureCapacity(this.sessions, n + 1);
    }
    this.users[n] = userIdx;
    this.items[n] = itemIdx;
    this.types[n] = typeCode;
    this.times[n] = timestampMs;
    this.sessions[n] = sessionIdx;
    this.count = n + 1;
  }

  get eventCount(): number {
    return this.count;
  }

  /**
   * The events added so far, as views of the builder's own arrays (no copy; valid until the next `add`): the
   * build's quality gate evaluates the very events the candidate was built from without reading them again.
   */
  events(): EventColumns {
    const n = this.count;
    return {
      users: this.users.subarray(0, n),
      items: this.items.subarray(0, n),
      types: this.types.subarray(0, n),
      times: this.times.subarray(0, n),
      sessions: this.sessions.subarray(0, n),
    };
  }

  /**
   * Gives every user and item added so far its new index, `userIndex[old]` and `itemIndex[old]`. The build and
   * offline evaluation both number ids in sorted order this way, so ties (broken by index everywhere) fall
   * the same whatever order the events arrived in.
   */
  renumber(userIndex: ArrayLike<number>, itemIndex: ArrayLike<number>): void {
    const n = this.count;
    for (let e = 0; e < n; e++) {
      this.users[e] = userIndex[this.users[e]!]!;
      this.items[e] = itemIndex[this.items[e]!]!;
    }
  }

  build(numUsers: number, numItems: number): BuildInput {
    requireInteger('numUsers', numUsers, 0);
    requireInteger('numItems', numItems, 0);
    const n = this.count;
    const users = this.users.subarray(0, n);
    const items = this.items.subarray(0, n);
    for (let e = 0; e < n; e++) {
      if (users[e]! >= numUsers)
        throw new RangeError(`user index ${users[e]} out of range (numUsers ${numUsers})`);
      if (items[e]! >= numItems)
        throw new RangeError(`item index ${items[e]} out of range (numItems ${numItems})`);
    }
    return {
      ...this.aggregate(numUsers, numItems, this.eventWeights()),
      baskets: this.baskets(numUsers, numItems),
    };
  }

  /** Per-event decayed weight (0 for types weighted 0). */
  private eventWeights(): Float64Array {
    const { referenceTimeMs, halfLifeDays } = this.opts;
    const n = this.count;
    const eventWeight = new Float64Array(n);
    const halfLifeMs = halfLifeDays * MS_PER_DAY;
    for (let e = 0; e < n; e++) {
      const typeWeight = this.weightByType[this.types[e]!]!;
      if (typeWeight === 0) continue;
      // Events stamped after the reference time (clock skew) count as fresh rather than above full weight.
      const ageMs = Math.max(0, referenceTimeMs - this.times[e]!);
      eventWeight[e] = typeWeight * 0.5 ** (ageMs / halfLifeMs);
    }
    return eventWeight;
  }

  /**
   * Sums positive-weight events per (user, item), applies the per-user recency cap then the per-item sampled
   * cap, and emits the CSR, the users per item before the caps, the per-item popularity over all events (one term
   * per user) and the trending sums (one term per user and window). Events are ordered by (user, item, time, type)
   * with a counting sort by user and a sort of each user's run, and every sum is taken in that order: floating-point
   * sums depend on their order, and two builds of the same events, read in another order, must come out the same
   * to the last bit.
   */
  private aggregate(
    numUsers: number,
    numItems: number,
    eventWeight: Float64Array,
  ): Omit<BuildInput, 'baskets'> {
    const { referenceTimeMs, trendingRecentHours, trendingBaselineHours } = this.opts;
    const recentStart = referenceTimeMs - trendingRecentHours * MS_PER_HOUR;
    const baselineStart = referenceTimeMs - trendingBaselineHours * MS_PER_HOUR;
    const n = this.count;
    const users = this.users;
    const items = this.items;
    const types = this.types;
    const times = this.times;
    const weightByType = this.weightByType;
    // Counting sort by user, then each user's (usually short) run sorted by item, time and type: one scatter pass
    // over the events instead of two.
    const userStart = new Uint32Array(numUsers + 1);
    let kept = 0;
    for (let e = 0; e < n; e++) {
      if (weightByType[types[e]!]! > 0) {
        userStart[users[e]! + 1]!++;
        kept++;
      }
    }
    for (let u = 0; u < numUsers; u++) userStart[u + 1]! += userStart[u]!;
    const order = new Uint32Array(kept);
    {
      const fill = userStart.slice(0, numUsers);
      for (let e = 0; e < n; e++) if (weightByType[types[e]!]! > 0) order[fill[users[e]!]!++] = e;
    }
    sortRunsByItem(order, userStart, items, times, types);

    // One entry per distinct (user, item), in (user, item) order; there are at most `kept`.
    const entryItem = new Uint32Array(kept);
    const entryWeight = new Float64Array(kept);
    const entryLatest = new Float64Array(kept);
    const entryPrimary = new Uint8Array(kept);
    const entryPtr = new Uint32Array(numUsers + 1);
    const popularity = new Float64Array(numItems);
    const recent = new Float64Array(numItems);
    const baseline = new Float64Array(numItems);
    const recentUsers = new Uint32Array(numItems);
    let entries = 0;
    for (let u = 0; u < numUsers; u++) {
      const end = userStart[u + 1]!;
      for (let t = userStart[u]!; t < end; ) {
        const item = items[order[t]!]!;
        let weight = 0;
        let heaviest = 0;
        let latest = Number.NEGATIVE_INFINITY;
        let primary = 0;
        let recentMax = 0;
        let baselineMax = 0;
        for (; t < end && items[order[t]!] === item; t++) {
          const e = order[t]!;
          const ts = times[e]!;
          weight += eventWeight[e]!;
          heaviest = Math.max(heaviest, eventWeight[e]!);
          latest = Math.max(latest, ts);
          if (types[e] === CART || types[e] === PURCHASE) primary = 1;
          if (ts <= referenceTimeMs) {
            const typeWeight = weightByType[types[e]!]!;
            if (ts > recentStart) recentMax = Math.max(recentMax, typeWeight);
            else if (ts > baselineStart) baselineMax = Math.max(baselineMax, typeWeight);
          }
        }
        popularity[item]! += heaviest;
        recent[item]! += recentMax;
        baseline[item]! += baselineMax;
        if (recentMax > 0) recentUsers[item]!++;
        entryItem[entries] = item;
        entryWeight[entries] = weight;
        entryLatest[entries] = latest;
        entryPrimary[entries] = primary;
        entries++;
      }
      entryPtr[u + 1] = entries;
    }

    const itemUsers = new Uint32Array(numItems);
    for (let q = 0; q < entries; q++) itemUsers[entryItem[q]!]!++;
    const keep = new Uint8Array(entries).fill(1);
    capItemsPerUser(entryPtr, entryItem, entryLatest, keep, this.opts.maxItemsPerUser);
    capUsersPerItem(
      entryPtr,
      entryItem.subarray(0, entries),
      keep,
      numItems,
      this.opts.maxUsersPerItem,
      this.opts.seed,
    );

    let nnz = 0;
    for (let q = 0; q < entries; q++) nnz += keep[q]!;
    const userPtr = new Uint32Array(numUsers + 1);
    const itemIdx = new Uint32Array(nnz);
    const weight = new Float64Array(nnz);
    const primary = new Uint8Array(nnz);
    let out = 0;
    for (let u = 0; u < numUsers; u++) {
      for (let q = entryPtr[u]!, end = entryPtr[u + 1]!; q < end; q++) {
        if (keep[q] === 0) continue;
        itemIdx[out] = entryItem[q]!;
        weight[out] = entryWeight[q]!;
        primary[out] = entryPrimary[q]!;
        out++;
      }
      userPtr[u + 1] = out;
    }
    return {
      interactions: { numUsers, numItems, userPtr, itemIdx, weight, primary },
      itemUsers,
      itemPopularity: popularity,
      trendingRecent: recent,
      trendingBaseline: baseline,
      trendingRecentUsers: recentUsers,
    };
  }

  /**
   * Baskets of cart and purchase events (whatever their weights): one per (session index ≥ 0, user), ascending by
   * session then user, then one per (user, UTC day) for events without a session, ascending by user then day.
   */
  private baskets(numUsers: number, numItems: number): Baskets {
    const n = this.count;
    const { users, items, types, times, sessions } = this;
    let sessionEvents = 0;
    let dayEvents = 0;
    let maxSession = -1;
    for (let e = 0; e < n; e++) {
      if (types[e] !== CART && types[e] !== PURCHASE) continue;
      const s = sessions[e]!;
      if (s >= 0) {
        sessionEvents++;
        if (s > maxSession) maxSession = s;
      } else dayEvents++;
    }
    const basketEvents = sessionEvents + dayEvents;
    const basketEvent = new Uint32Array(basketEvents);
    const basketOf = new Uint32Array(basketEvents);
    let numBaskets = 0;

    // Session baskets: counting sort by session index.
    const sessionStart = new Uint32Array(maxSession + 2);
    for (let e = 0; e < n; e++) {
      if ((types[e] === CART || types[e] === PURCHASE) && sessions[e]! >= 0)
        sessionStart[sessions[e]! + 1]!++;
    }
    for (let s = 0; s <= maxSession; s++) sessionStart[s + 1]! += sessionStart[s]!;
    const sessionFill = sessionStart.slice(0, maxSession + 1);
    // Day baskets: counting sort by user, then by day within each user's (usually tiny, usually sorted) run.
    const userStart = new Uint32Array(numUsers + 1);
    for (let e = 0; e < n; e++) {
      if ((types[e] === CART || types[e] === PURCHASE) && sessions[e]! < 0) userStart[users[e]! + 1]!++;
    }
    for (let u = 0; u < numUsers; u++) userStart[u + 1]! += userStart[u]!;
    const userFill = userStart.slice(0, numUsers);
    for (let e = 0; e < n; e++) {
      if (types[e] !== CART && types[e] !== PURCHASE) continue;
      const s = sessions[e]!;
      if (s >= 0) basketEvent[sessionFill[s]!++] = e;
      else basketEvent[sessionEvents + userFill[users[e]!]!++] = e;
    }
    // One basket per user of a session: session ids are the storefront's, and two shoppers' may be equal (a
    // per-visitor session counter, a session's start second). A session's run is usually one user's.
    for (let s = 0; s <= maxSession; s++) {
      const from = sessionStart[s]!;
      const to = sessionStart[s + 1]!;
      if (to === from) continue;
      const run = basketEvent.subarray(from, to);
      let oneUser = true;
      for (let t = 1; t < run.length && oneUser; t++) oneUser = users[run[t]!] === users[run[0]!];
      if (!oneUser) run.sort((a, b) => users[a]! - users[b]! || a - b);
      for (let t = from; t < to; t++) {
        if (t === from || users[basketEvent[t]!] !== users[basketEvent[t - 1]!]) numBaskets++;
        basketOf[t] = numBaskets - 1;
      }
    }
    const utcDay = (e: number) => Math.floor(times[e]! / MS_PER_DAY);
    for (let u = 0; u < numUsers; u++) {
      const from = sessionEvents + userStart[u]!;
      const to = sessionEvents + userStart[u + 1]!;
      if (to - from === 0) continue;
      const run = basketEvent.subarray(from, to);
      let sorted = true;
      for (let t = 1; t < run.length && sorted; t++) sorted = utcDay(run[t - 1]!) <= utcDay(run[t]!);
      if (!sorted) run.sort((a, b) => utcDay(a) - utcDay(b) || a - b);
      let previousDay = Number.NaN;
      for (let t = from; t < to; t++) {
        const day = utcDay(basketEvent[t]!);
        if (day !== previousDay) {
          numBaskets++;
          previousDay = day;
        }
        basketOf[t] = numBaskets - 1;
      }
    }

    // Distinct items per basket, ascending: stable counting sorts by item, then by basket.
    const itemStart = new Uint32Array(numItems + 1);
    for (let t = 0; t < basketEvents; t++) itemStart[items[basketEvent[t]!]! + 1]!++;
    for (let j = 0; j < numItems; j++) itemStart[j + 1]! += itemStart[j]!;
    const byItem = new Uint32Array(basketEvents);
    for (let t = 0; t < basketEvents; t++) byItem[itemStart[items[basketEvent[t]!]!]!++] = t;
    const basketStart = new Uint32Array(numBaskets + 1);
    for (let t = 0; t < basketEvents; t++) basketStart[basketOf[t]! + 1]!++;
    for (let b = 0; b < numBaskets; b++) basketStart[b + 1]! += basketStart[b]!;
    const grouped = new Uint32Array(basketEvents);
    for (let r = 0; r < basketEvents; r++) {
      const t = byItem[r]!;
      grouped[basketStart[basketOf[t]!]!++] = items[basketEvent[t]!]!;
    }
    // basketStart now holds each basket's end; dedupe consecutive equal items in place.
    const basketUser = new Uint32Array(numBaskets);
    for (let t = 0; t < basketEvents; t++) basketUser[basketOf[t]!] = users[basketEvent[t]!]!;
    const ptr = new Uint32Array(numBaskets + 1);
    let out = 0;
    let begin = 0;
    for (let b = 0; b < numBaskets; b++) {
      const end = basketStart[b]!;
      for (let t = begin; t < end; t++) {
        if (t === begin || grouped[t] !== grouped[t - 1]) grouped[out++] = grouped[t]!;
      }
      begin = end;
      ptr[b + 1] = out;
    }
    return { ptr, itemIdx: grouped.slice(0, out), users: basketUser };
  }
}

/** Runs this long or shorter are insertion-sorted; longer ones go to the built-in sort. */
const INSERTION_SORT_MAX = 32;

/**
 * Sorts each run order[runStart[r], runStart[r + 1]) by item, then time, then type: events equal in all three
 * weigh the same, so the order of any sum over a run's events no longer depends on the order they arrived in.
 * Most runs are a handful of events.
 */
function sortRunsByItem(
  order: Uint32Array,
  runStart: Uint32Array,
  items: Uint32Array,
  times: Float64Array,
  types: Uint8Array,
): void {
  const keys = new Uint32Array(INSERTION_SORT_MAX);
  // Whether event a goes after event b of the same item.
  const later = (a: number, b: number) =>
    times[a]! > times[b]! || (times[a] === times[b] && types[a]! > types[b]!);
  for (let r = 0; r + 1 < runStart.length; r++) {
    const from = runStart[r]!;
    const to = runStart[r + 1]!;
    const length = to - from;
    if (length < 2) continue;
    if (length > INSERTION_SORT_MAX) {
      order
        .subarray(from, to)
        .sort((a, b) => items[a]! - items[b]! || times[a]! - times[b]! || types[a]! - types[b]! || a - b);
      continue;
    }
    for (let t = 0; t < length; t++) keys[t] = items[order[from + t]!]!;
    for (let t = 1; t < length; t++) {
      const key = keys[t]!;
      const e = order[from + t]!;
      let s = t - 1;
      while (s >= 0 && (keys[s]! > key || (keys[s] === key && later(order[from + s]!, e)))) {
        keys[s + 1] = keys[s]!;
        order[from + s + 1] = order[from + s]!;
        s--;
      }
      keys[s + 1] = key;
      order[from + s + 1] = e;
    }
  }
}

/** Keeps each user's `maxItems` most recent distinct items (latest event; ties keep the lower item index). */
function capItemsPerUser(
  entryPtr: Uint32Array,
  entryItem: Uint32Array,
  entryLatest: Float64Array,
  keep: Uint8Array,
  maxItems: number,
): void {
  const numUsers = entryPtr.length - 1;
  for (let u = 0; u < numUsers; u++) {
    const start = entryPtr[u]!;
    const end = entryPtr[u + 1]!;
    if (end - start <= maxItems) continue;
    const local = new Uint32Array(end - start);
    for (let q = start; q < end; q++) local[q - start] = q;
    local.sort((a, b) => entryLatest[b]! - entryLatest[a]! || entryItem[a]! - entryItem[b]!);
    for (let r = maxItems; r < local.length; r++) keep[local[r]!] = 0;
  }
}

/** For items with more than `maxUsers` kept users, keeps the seeded sample of `maxUsers` of them. */
function capUsersPerItem(
  entryPtr: Uint32Array,
  entryItem: Uint32Array,
  keep: Uint8Array,
  numItems: number,
  maxUsers: number,
  seed: number,
): void {
  const entries = entryItem.length;
  const userCount = new Uint32Array(numItems);
  let anyOver = false;
  for (let q = 0; q < entries; q++) {
    if (keep[q] === 1 && ++userCount[entryItem[q]!]! > maxUsers) anyOver = true;
  }
  if (!anyOver) return;
  // Group the kept entries of over-cap items by item; users ascend within each group.
  const groupStart = new Uint32Array(numItems + 1);
  for (let j = 0; j < numItems; j++)
    groupStart[j + 1] = groupStart[j]! + (userCount[j]! > maxUsers ? userCount[j]! : 0);
  const groupFill = groupStart.slice(0, numItems);
  const groupEntry = new Uint32Array(groupStart[numItems]!);
  const groupUser = new Uint32Array(groupEntry.length);
  const numUsers = entryPtr.length - 1;
  for (let u = 0; u < numUsers; u++) {
    for (let q = entryPtr[u]!, end = entryPtr[u + 1]!; q < end; q++) {
      const j = entryItem[q]!;
      if (keep[q] === 0 || userCount[j]! <= maxUsers) continue;
      const pos = groupFill[j]!++;
      groupEntry[pos] = q;
      groupUser[pos] = u;
    }
  }
  for (let j = 0; j < numItems; j++) {
    const from = groupStart[j]!;
    const to = groupStart[j + 1]!;
    if (to === from) continue;
    for (let p = from; p < to; p++) keep[groupEntry[p]!] = 0;
    const sampled = seededSamplePositions(groupUser, from, to, maxUsers, seed, j);
    for (let s = 0; s < sampled.length; s++) keep[groupEntry[sampled[s]!]!] = 1;
  }
}

/**
 * For ids numbered by first appearance, each one's index in sorted (code unit) order, and the ids in that order:
 * the numbering `InteractionsBuilder.renumber` takes.
 */
export function sortedNumbering(ids: readonly string[]): { index: Uint32Array; ids: string[] } {
  const order = Array.from(ids.keys()).sort((a, b) => (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : 0));
  const index = new Uint32Array(ids.length);
  for (let rank = 0; rank < order.length; rank++) index[order[rank]!] = rank;
  return { index, ids: order.map((i) => ids[i]!) };
}
