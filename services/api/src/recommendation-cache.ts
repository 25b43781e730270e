import { hash } from 'node:crypto';
import { RECOMMENDATIONS_REPLY_FORMAT, type RecommendationsReply } from '@elevens/domain';
import type { ReplyEntry, UserReplyRead } from '@elevens/redis-stores';
import type { FastifyInstance } from 'fastify';
import {
  computeRecommendation,
  newRecommendationId,
  type RecommendationServiceSettings,
  type RecommendForOptions,
} from './recommendations-service';

/**
 * A per-user read-through cache of whole recommendation answers (JSON), exact under every write that can change
 * one: each writer of a user's history, purchases or profile sets the user's stamp to a new token after its
 * data, and an answer is computed only after the stamp was read, so an entry whose stamp is the current one was
 * computed from current data. The model, boost rules and catalog versions served in process must equal the
 * entry's, and it lives at most `ttlMs` (history weights decay with time) and never past the next boost or pin
 * window edge, nor past the next start or end of an experiment. Entries are never made under a missing stamp:
 * the reader claims one first, so an erasure (which deletes the stamp) leaves no entry that matches; it deletes the
 * user's entries and marks too, and a write that reaches Redis after it stores nothing (the ReplyCache store).
 *
 * An entry (`ReplyEntry`, whose format the ReplyCache store owns) holds the answer's JSON without its
 * recommendationId, which a hit splices in new (an answer id naming the same model, experiment and arm), so a hit
 * costs no parse and no serialisation of the answer.
 */

export type CacheResult = 'hit' | 'miss' | 'off';

export interface CachedAnswer {
  /** the answer's JSON, with a recommendationId of its own */
  json: string;
  result: CacheResult;
}

/**
 * The query in one canonical string, `settingsTag` (`settingsTagOf`) and the experiment set's version (which
 * decides the arm) first; its hash names the entry and the entry repeats it, so a hash collision is a miss, never
 * a wrong answer.
 */
function canonicalQuery(
  settingsTag: string,
  experimentsVersion: number,
  options: RecommendForOptions,
): string {
  return JSON.stringify([
    settingsTag,
    experimentsVersion,
    options.limit,
    options.context ?? 'home',
    options.itemId ?? null,
    options.category ?? null,
    options.exclude ?? null,
    options.cursor ?? null,
    options.offerSeen === true,
    options.placement ?? null,
  ]);
}

const hashOf = (text: string) => hash('sha1', text, 'base64url').slice(0, 16);

/**
 * The serving settings (which shape answers too) and the answer's wire form (`RECOMMENDATIONS_REPLY_FORMAT`) in
 * one tag: an entry made under other settings or in another form, by this release or another, is a miss.
 */
export function settingsTagOf(settings: RecommendationServiceSettings, replyFormat: number): string {
  return hashOf(
    JSON.stringify([
      replyFormat,
      { ...settings, repurchasableCategories: [...settings.repurchasableCategories].sort() },
    ]),
  );
}

const ID_PROPERTY = '{"recommendationId":';

const withRecommendationId = (recommendationId: string, jsonWithoutId: string) =>
  `${ID_PROPERTY}"${recommendationId}",${jsonWithoutId.slice(1)}`;

/**
 * The answer's JSON (sent as is) and the same without its recommendationId (what an entry stores): one
 * serialisation, cut after the id (the reply's first property), so a miss neither copies the reply into an object
 * without the id nor joins the id back into the text it sends.
 */
function serialise(reply: RecommendationsReply): { json: string; jsonWithoutId: string } {
  const json = JSON.stringify(reply);
  const idProperty = `${ID_PROPERTY}${JSON.stringify(reply.recommendationId)},`;
  // computeRecommendation builds every reply with its id first; an entry must never keep a stale id.
  if (!json.startsWith(idProperty)) throw new Error('a recommendation reply must serialise its id first');
  return { json, jsonWithoutId: `{${json.slice(idProperty.length)}` };
}

/** The read's entry when it holds for this query now (the stamp is the read's, by the store), else null. */
function validEntry(
  app: FastifyInstance,
  read: UserReplyRead,
  canonical: string,
  ttlMs: number,
  nowMs: number,
): ReplyEntry | null {
  const { entry } = read;
  const ok =
    entry !== null &&
    entry.query === canonical &&
    entry.modelVersion === app.model.versionFor(entry.experiment, entry.arm) &&
    entry.boostRulesVersion === String(app.boostRules.current().version) &&
    entry.catalogVersion === app.catalog.version() &&
    nowMs - entry.computedAtMs < ttlMs &&
    nowMs < entry.validUntilMs;
  return ok ? entry : null;
}

export interface RecommendationCache {
  answer(options: RecommendForOptions): Promise<CachedAnswer>;
}

/**
 * The cache for one app; `ttlMs` 0 turns it off (every answer computed). `minUses` 2 stores an answer only when
 * its query is computed a second time under one stamp of the user (the store's read leaves a mark at the first,
 * living as long as an entry would), 1 at every computation. `now` is the clock entries' lives and boost-window
 * edges are measured on (epoch ms); tests fix it.
 */
export function createRecommendationCache(
  app: FastifyInstance,
  ttlMs: number,
  minUses: 1 | 2,
  now: () => number = Date.now,
): RecommendationCache {
  const markMs = minUses === 2 ? ttlMs : 0;
  const settings = app.recommendationSettings;
  const settingsTag = settingsTagOf(settings, RECOMMENDATIONS_REPLY_FORMAT);

  // Writes still in flight; closing waits for them, before the Redis client closes.
  const writing = new Set<Promise<void>>();
  app.addHook('onClose', async () => {
    await Promise.allSettled(writing);
  });

  return {
    async answer(options) {
      if (ttlMs <= 0) {
        return { json: JSON.stringify((await computeRecommendation(app, options)).reply), result: 'off' };
      }
      const canonical = canonicalQuery(settingsTag, app.experiments.current().version, options);
      const queryKey = hashOf(canonical);
      const { userId } = options;
      let read: UserReplyRead | null = null;
      try {
        read = await app.replyCache.read(userId, queryKey, settings.historyLength, markMs);
      } catch (error) {
        // Computed as without the cache; the computation marks the answer degraded if Redis is really down.
        app.log.debug({ err: error }, 'could not read the reply cache');
      }
      if (read) {
        const cached = validEntry(app, read, canonical, ttlMs, now());
        if (cached !== null) {
          const id = newRecommendationId(
            cached.modelVersion,
            options.placement ?? options.context ?? 'home',
            cached.experiment,
            cached.arm,
          );
          return { json: withRecommendationId(id, cached.json), result: 'hit' };
        }
      }

      const computedAtMs = now();
      // The state read with the stamp holds only under that stamp. A user without one gets one claimed first, and
      // the state read again once the claim is answered (the claim and the reads go through different channels of
      // the client, which Redis may see in either order): an erasure in between then leaves no entry of its data.
      const claimed =
        read !== null && read.stamp === null
          ? await app.replyCache.claimStamp(userId, ttlMs).catch(() => null)
          : undefined;
      const { reply, from } = await computeRecommendation(
        app,
        options,
        claimed === undefined ? (read?.state ?? undefined) : undefined,
      );
      const stamp = claimed === undefined ? (read?.stamp ?? null) : claimed;
      // A reader that claimed the stamp is its first reader (no writer has renewed it): admitted at once.
      const admitted = claimed !== undefined || read?.admit === true;
      if (!admitted || stamp === null || from === null || reply.degraded)
        return { json: JSON.stringify(reply), result: 'miss' };
      const { json, jsonWithoutId } = serialise(reply);
      // An experiment starting or ending moves the user's arm without a new set version: the entry ends there.
      const validUntilMs = Math.min(
        computedAtMs + ttlMs,
        from.rulesChangeAtMs,
        app.experiments.changesAfter(computedAtMs),
      );
      const lifeMs = validUntilMs - now();
      // Not awaited: the answer does not wait for the cache, and a failed write only costs a later miss.
      if (lifeMs > 0) {
        const write = app.replyCache
          .write(
            userId,
            queryKey,
            {
              stamp,
              modelVersion: from.modelVersion,
              boostRulesVersion: String(from.boostRulesVersion),
              catalogVersion: from.catalogVersion,
              computedAtMs,
              validUntilMs,
              experiment: reply.experiment ?? null,
              arm: reply.arm ?? null,
              query: canonical,
              json: jsonWithoutId,
            },
            Math.ceil(lifeMs),
          )
          .catch((error: unknown) => app.log.warn({ err: error }, 'could not store a cached recommendation'))
          .finally(() => writing.delete(write));
        writing.add(write);
      }
      return { json, result: 'miss' };
    },
  };
}
