import { buildCatalogLayout, type CatalogLayout } from './catalog';
import {
  type GeneratorOptions,
  itemIdOf,
  type ResolvedGeneratorOptions,
  resolveGeneratorOptions,
  STREAM_EVENTS,
  STREAM_USERS,
  userIdOf,
} from './options';
import { createRng, deriveSeed, type Rng } from './rng';
import {
  type AliasTable,
  buildAliasTable,
  createZipfSampler,
  type Sampler,
  sampleAlias,
  sampleExponential,
  sampleGeometric,
} from './sampling';
import { buildTimeline } from './timeline';

export const GENERATED_EVENT_TYPES = ['view', 'cart', 'purchase', 'fav'] as const;
export type GeneratedEventType = (typeof GENERATED_EVENT_TYPES)[number];

export interface GeneratedEvent {
  eventId: string;
  userId: string;
  itemId: string;
  type: GeneratedEventType;
  /** epoch ms */
  timestamp: number;
  sessionId: string;
}

const VIEW = 0;
const CART = 1;
const PURCHASE = 2;
const FAV = 3;

/** Funnel rates, per view (cart, fav) and per cart (purchase at checkout). */
const VIEW_TO_CART = 0.1;
const CART_TO_PURCHASE = 0.3;
const VIEW_TO_FAV = 0.03;
/** Where a session's next view comes from: its focus category, another preferred one, or anywhere. */
const FOCUS_CATEGORY_SHARE = 0.7;
const OTHER_PREFERRED_SHARE = 0.15;
/** Chance that a view goes back to an item already seen in the session (comparison shopping). */
const REVISIT_SHARE = 0.12;
/** Views per session: 1 + geometric, mean 1 + (1 - p) / p = 5, capped. */
const EXTRA_VIEW_STOP_PROBABILITY = 0.2;
const MAX_VIEWS_PER_SESSION = 40;
/** Each view adds at most a cart and a fav; each cart at most one purchase. */
const SESSION_CAPACITY = MAX_VIEWS_PER_SESSION * 4;
/** Pareto tail of user activity; capped so one synthetic user cannot dominate a small stream. */
const ACTIVITY_PARETO_ALPHA = 1.5;
const MAX_ACTIVITY_WEIGHT = 200;
const MAX_PREFERRED_CATEGORIES = 3;

interface UserModel {
  activity: AliasTable;
  /** MAX_PREFERRED_CATEGORIES slots per user; the first preferredCount[u] are used. */
  preferred: Uint32Array;
  preferredCount: Uint8Array;
}

function categorySizeTable(layout: CatalogLayout): AliasTable {
  const sizes = new Float64Array(layout.numCategories);
  for (let c = 0; c < layout.numCategories; c++)
    sizes[c] = layout.categoryPtr[c + 1]! - layout.categoryPtr[c]!;
  return buildAliasTable(sizes);
}

function buildUsers(
  opts: ResolvedGeneratorOptions,
  layout: CatalogLayout,
  categoryPicker: AliasTable,
): UserModel {
  const rng = createRng(deriveSeed(opts.seed, STREAM_USERS));
  const weights = new Float64Array(opts.users);
  const preferred = new Uint32Array(opts.users * MAX_PREFERRED_CATEGORIES);
  const preferredCount = new Uint8Array(opts.users);
  for (let u = 0; u < opts.users; u++) {
    weights[u] = Math.min(MAX_ACTIVITY_WEIGHT, (1 - rng.next()) ** (-1 / ACTIVITY_PARETO_ALPHA));
    const roll = rng.next();
    const wanted = Math.min(layout.numCategories, roll < 0.35 ? 1 : roll < 0.7 ? 2 : 3);
    const base = u * MAX_PREFERRED_CATEGORIES;
    let count = 0;
    // Popular categories are preferred by more users; a bounded number of retries keeps the picks distinct.
    for (let attempt = 0; count < wanted && attempt < 20; attempt++) {
      const c = sampleAlias(categoryPicker, rng);
      let seen = false;
      for (let j = 0; j < count; j++) if (preferred[base + j] === c) seen = true;
      if (!seen) preferred[base + count++] = c;
    }
    preferredCount[u] = count;
  }
  return { activity: buildAliasTable(weights), preferred, preferredCount };
}

/**
 * The event stream for the options: exactly `opts.events` events, deterministic for a seed, streamed
 * session by session in session-start order. Holds O(users + items) state plus one session buffer.
 */
export function* generateEvents(options: GeneratorOptions): Generator<GeneratedEvent> {
  const opts = resolveGeneratorOptions(options);
  if (opts.events === 0) return;
  const layout = buildCatalogLayout(opts);
  const categoryPicker = categorySizeTable(layout);
  const users = buildUsers(opts, layout, categoryPicker);
  const timeline = buildTimeline(opts);
  const rng = createRng(deriveSeed(opts.seed, STREAM_EVENTS));
  const itemSamplers: Sampler[] = [];
  for (let c = 0; c < layout.numCategories; c++) {
    itemSamplers.push(
      createZipfSampler(layout.categoryPtr[c + 1]! - layout.categoryPtr[c]!, opts.zipfExponent, rng),
    );
  }
  const session = new SessionBuffer();
  // Ids name the shop as well as the seed: another shop of the same seed (more users, a bigger catalog) holds other
  // events under the same numbers, which ingest and import would skip as already stored. The event count and the
  // window only move the times of the same events, so they stay out.
  const shop = `${opts.seed}-${opts.users}u${opts.items}i${opts.categories}c${opts.zipfExponent}z-`;
  const eventPrefix = `g${shop}`;
  const sessionPrefix = `s${shop}`;
  const lastMs = opts.endMs - 1;

  let emitted = 0;
  for (let sessionIndex = 0; emitted < opts.events; sessionIndex++) {
    const user = sampleAlias(users.activity, rng);
    const startMs = timeline.timeAt(emitted / opts.events);
    fillSession(session, user, startMs, users, layout, itemSamplers, categoryPicker, rng);
    const userId = userIdOf(user);
    const sessionId = sessionPrefix + sessionIndex;
    for (let j = 0; j < session.length && emitted < opts.events; j++) {
      yield {
        eventId: eventPrefix + emitted,
        userId,
        itemId: itemIdOf(session.item[j]!),
        type: GENERATED_EVENT_TYPES[session.type[j]!]!,
        timestamp: Math.min(lastMs, Math.floor(session.time[j]!)),
        sessionId,
      };
      emitted++;
    }
  }
}

class SessionBuffer {
  readonly item = new Uint32Array(SESSION_CAPACITY);
  readonly type = new Uint8Array(SESSION_CAPACITY);
  readonly time = new Float64Array(SESSION_CAPACITY);
  length = 0;

  push(item: number, type: number, time: number): void {
    this.item[this.length] = item;
    this.type[this.length] = type;
    this.time[this.length] = time;
    this.length++;
  }
}

/** One session: browse (views with the odd cart or fav), then a checkout that buys some carted items. */
function fillSession(
  session: SessionBuffer,
  user: number,
  startMs: number,
  users: UserModel,
  layout: CatalogLayout,
  itemSamplers: readonly Sampler[],
  categoryPicker: AliasTable,
  rng: Rng,
): void {
  session.length = 0;
  const base = user * MAX_PREFERRED_CATEGORIES;
  const preferredCount = users.preferredCount[user]!;
  // The first preferred category is the user's main interest, so it is the usual session focus.
  const focus = users.preferred[base + (rng.next() < 0.6 ? 0 : rng.nextInt(preferredCount))]!;
  const views = Math.min(MAX_VIEWS_PER_SESSION, 1 + sampleGeometric(rng, EXTRA_VIEW_STOP_PROBABILITY));
  let t = startMs;
  let viewsSoFar = 0;
  for (let v = 0; v < views; v++) {
    let item: number;
    if (viewsSoFar > 0 && rng.next() < REVISIT_SHARE) {
      item = pickEarlierView(session, viewsSoFar, rng);
    } else {
      const roll = rng.next();
      const category =
        roll < FOCUS_CATEGORY_SHARE
          ? focus
          : roll < FOCUS_CATEGORY_SHARE + OTHER_PREFERRED_SHARE
            ? users.preferred[base + rng.nextInt(preferredCount)]!
            : sampleAlias(categoryPicker, rng);
      item = layout.categoryItems[layout.categoryPtr[category]! + itemSamplers[category]!.sample()]!;
    }
    session.push(item, VIEW, t);
    viewsSoFar++;
    if (rng.next() < VIEW_TO_CART) {
      t += 2_000 + sampleExponential(rng, 15_000);
      session.push(item, CART, t);
    }
    if (rng.next() < VIEW_TO_FAV) {
      t += 1_000 + sampleExponential(rng, 10_000);
      session.push(item, FAV, t);
    }
    t += 3_000 + sampleExponential(rng, 40_000);
  }
  const browseLength = session.length;
  let checkoutStarted = false;
  for (let j = 0; j < browseLength; j++) {
    if (session.type[j] !== CART || rng.next() >= CART_TO_PURCHASE) continue;
    t += checkoutStarted ? 2_000 + sampleExponential(rng, 5_000) : 20_000 + sampleExponential(rng, 60_000);
    checkoutStarted = true;
    session.push(session.item[j]!, PURCHASE, t);
  }
}

/** A uniformly chosen earlier view of the session (the buffer only holds views, carts and favs so far). */
function pickEarlierView(session: SessionBuffer, viewsSoFar: number, rng: Rng): number {
  let remaining = rng.nextInt(viewsSoFar);
  for (let j = 0; j < session.length; j++) {
    if (session.type[j] !== VIEW) continue;
    if (remaining === 0) return session.item[j]!;
    remaining--;
  }
  throw new Error('unreachable: viewsSoFar exceeds the views in the session buffer');
}

export const GENERATED_EVENTS_CSV_HEADER = 'event_id,user_id,item_id,type,timestamp,session_id';

/** One CSV line (no newline). Generated ids and types never contain commas or quotes, so no quoting. */
export function generatedEventToCsv(e: GeneratedEvent): string {
  return `${e.eventId},${e.userId},${e.itemId},${e.type},${e.timestamp},${e.sessionId}`;
}
