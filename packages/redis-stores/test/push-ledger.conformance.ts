import { randomUUID } from 'node:crypto';
import {
  createKeys,
  eraseUserLiveState,
  PushLedger,
  type PushLedgerDecision,
  packPushRules,
  pushStatsField,
  TurnBatch,
  writeUserProfile,
} from '@elevens/redis-stores';
import { describe, expect, it } from 'vitest';
import type { RedisBackend } from './backends';

/** A Redis backend the push ledger runs on, as a test file set it up (its own key prefix). */
export type LedgerBackend = Pick<RedisBackend, 'keys' | 'redis' | 'connect' | 'slotOf'>;

const HOUR_MS = 3_600_000;
const NOW = 1_800_000_000_000;
const rules = (limit: number) =>
  packPushRules([
    {
      channel: 'any',
      category: null,
      windowMs: HOUR_MS,
      effectiveLimit: limit,
      activeUntilMs: null,
      startsAtMs: null,
    },
  ]);

const decision = (userId: string, overrides: Partial<PushLedgerDecision> = {}): PushLedgerDecision => ({
  userId,
  decisionUuid: randomUUID(),
  nowMs: NOW,
  channel: 'push',
  category: null,
  campaignId: randomUUID(),
  duplicateMs: 60_000,
  checkCaps: true,
  reserve: 'counted',
  retentionMs: 31 * 24 * HOUR_MS,
  rules: rules(5),
  ...overrides,
});

const allowed = (outcomes: { result: { reason: string } }[]) =>
  outcomes.filter((o) => o.result.reason === 'ok').length;

/**
 * The push ledger's contract, the same on every backend: exact caps under concurrent decisions for one user
 * (from one client, two clients, and through a TurnBatch where the backend has one), release, item claims,
 * time zones, the config and the hourly counts; on a cluster, each script's keys in one slot.
 */
export function pushLedgerConformance(
  backend: () => LedgerBackend,
  options: { turnBatch: boolean; cluster: boolean },
) {
  const slotOf = (key: string) => backend().slotOf(key);
  const ledger = (redis = backend().redis, turnBatch?: TurnBatch) =>
    new PushLedger(redis, backend().keys, turnBatch);

  describe('caps under concurrency', () => {
    it('allows exactly the limit of 300 concurrent decisions for one user', async () => {
      const userId = `cap-${randomUUID()}`;
      const outcomes = await Promise.all(
        Array.from({ length: 300 }, () => ledger().decide(decision(userId), null)),
      );
      expect(allowed(outcomes)).toBe(5);
      expect(new Set(outcomes.map((o) => o.result.reason))).toEqual(new Set(['ok', 'cap_exceeded']));
      expect(await backend().redis.zcard(backend().keys.pushSends(userId))).toBe(5);
    });

    it('allows exactly the limit when two clients decide for one user at once', async () => {
      const userId = `two-${randomUUID()}`;
      const clients = [backend().connect(), backend().connect()];
      try {
        const ledgers = clients.map((client) => ledger(client));
        const outcomes = await Promise.all(
          Array.from({ length: 200 }, (_, i) => ledgers[i % 2]!.decide(decision(userId), null)),
        );
        expect(allowed(outcomes)).toBe(5);
        expect(await backend().redis.zcard(backend().keys.pushSends(userId))).toBe(5);
      } finally {
        for (const client of clients) client.disconnect();
      }
    });

    it.runIf(options.turnBatch)('allows exactly the limit through a TurnBatch', async () => {
      const userId = `batch-${randomUUID()}`;
      const batched = ledger(backend().redis, new TurnBatch(backend().redis));
      const outcomes = await Promise.all(
        Array.from({ length: 200 }, () => batched.decide(decision(userId), null)),
      );
      expect(allowed(outcomes)).toBe(5);
    });

    it('counts exempt sends against nothing and refuses a repeated campaign', async () => {
      const userId = `exempt-${randomUUID()}`;
      const exempt = await Promise.all(
        Array.from({ length: 10 }, () =>
          ledger().decide(decision(userId, { checkCaps: false, reserve: 'exempt', rules: rules(1) }), null),
        ),
      );
      expect(allowed(exempt)).toBe(10);
      const first = await ledger().decide(decision(userId, { campaignId: 'sale', rules: rules(1) }), null);
      expect(first.result.reason).toBe('ok');
      const again = await ledger().decide(decision(userId, { campaignId: 'sale', rules: rules(9) }), null);
      expect(again.result).toMatchObject({ reason: 'duplicate_campaign', duplicateUntilMs: NOW + 60_000 });
    });

    it("counts an admin's override past a full cap like any send, and marks it as an override", async () => {
      const userId = `override-${randomUUID()}`;
      const { keys, redis } = backend();
      expect((await ledger().decide(decision(userId, { rules: rules(1) }), null)).result.reason).toBe('ok');
      const override = decision(userId, { nowMs: NOW + 1, checkCaps: false, rules: rules(1) });
      const overridden = await ledger().decide(override, null);
      // Past its limit of 1, the rule has room again once the newer of its two sends leaves the window.
      expect(overridden.result).toMatchObject({ reason: 'ok', usage: [{ used: 2, freeingSendMs: NOW + 1 }] });
      // A reservation written before the override flag existed reads as it did: counted, no override.
      const older = `cp${randomUUID()}003000old`;
      await redis.zadd(keys.pushSends(userId), NOW - 1, older);
      const refused = await ledger().decide(decision(userId, { nowMs: NOW + 2, rules: rules(3) }), null);
      expect(refused.result).toMatchObject({ reason: 'cap_exceeded', usage: [{ used: 3 }] });
      expect((await ledger().readUserState(userId, NOW - 2)).sends).toEqual([
        { atMs: NOW - 1, channel: 'push', category: null, overridden: false, priority: 'normal' },
        { atMs: NOW, channel: 'push', category: null, overridden: false, priority: 'normal' },
        { atMs: NOW + 1, channel: 'push', category: null, overridden: true, priority: 'normal' },
      ]);
      // Claiming an item and releasing find the override's reservation as any other.
      const claim = { userId, decisionUuid: override.decisionUuid, nowMs: NOW + 1, exclusionMs: 60_000 };
      expect(await ledger().claimItem({ ...claim, candidates: ['gift'] })).toBe('gift');
      expect(await ledger().readUserState(userId, NOW)).toMatchObject({ sends: [{ overridden: true }] });
      expect(await ledger().release(userId, override.decisionUuid, NOW + 1)).toBe(true);
      expect((await ledger().readUserState(userId, NOW)).sends).toEqual([]);
    });
  });

  describe('rules that end', () => {
    it('decides under a rule that ends in year 9999, the latest instant a rule may name', async () => {
      const userId = `far-end-${randomUUID()}`;
      // A rule body takes any four-digit year and offset: this end is an instant in year 10000.
      const activeUntilMs = Date.parse('9999-12-31T23:59:59.999-14:00');
      const blockUntilThen = packPushRules([
        {
          channel: 'push',
          category: null,
          windowMs: HOUR_MS,
          effectiveLimit: 0,
          activeUntilMs,
          startsAtMs: null,
        },
      ]);
      const outcome = await ledger().decide(decision(userId, { rules: blockUntilThen }), null);
      expect(outcome.result).toMatchObject({
        reason: 'cap_exceeded',
        blockingIndex: 0,
        capFreeAtMs: activeUntilMs,
      });
    });
  });

  describe('release and claim', () => {
    it('releases a reservation with its item, frees its slot, and answers false the second time', async () => {
      const userId = `release-${randomUUID()}`;
      const held = decision(userId, { rules: rules(1) });
      expect((await ledger().decide(held, null)).result.reason).toBe('ok');
      const claim = { userId, decisionUuid: held.decisionUuid, nowMs: NOW, exclusionMs: 60_000 };
      expect(await ledger().claimItem({ ...claim, candidates: ['ïtem\t1', 'other'] })).toBe('ïtem\t1');
      // One item per decision.
      expect(await ledger().claimItem({ ...claim, candidates: ['other'] })).toBeNull();
      expect(await ledger().recentlyPushedItems(userId, NOW - 1)).toEqual(['ïtem\t1']);
      expect((await ledger().decide(decision(userId, { rules: rules(1) }), null)).result.reason).toBe(
        'cap_exceeded',
      );

      expect(await ledger().release(userId, held.decisionUuid, NOW)).toBe(true);
      expect(await ledger().recentlyPushedItems(userId, NOW - 1)).toEqual([]);
      expect(await ledger().release(userId, held.decisionUuid, NOW)).toBe(false);
      expect((await ledger().decide(decision(userId, { rules: rules(1) }), null)).result.reason).toBe('ok');
    });

    it("keeps the sends key's expiry when an item is claimed for the user's only reservation", async () => {
      const { keys, redis } = backend();
      const retention = decision('').retentionMs;
      const claimOf = (userId: string, decisionUuid: string) => ({
        userId,
        decisionUuid,
        nowMs: NOW,
        exclusionMs: 60_000,
      });
      const plain = decision(`claim-ttl-${randomUUID()}`);
      expect((await ledger().decide(plain, null)).result.reason).toBe('ok');
      expect(
        await ledger().claimItem({ ...claimOf(plain.userId, plain.decisionUuid), candidates: ['gift'] }),
      ).toBe('gift');
      const retried = decision(`claim-ttl-${randomUUID()}`);
      const retry = { key: 'k1', fingerprint: 'f', context: '{}', periodMs: 86_400_000 };
      expect(await ledger().decideRetried({ ...retried, retry }, null)).toMatchObject({
        result: { reason: 'ok' },
      });
      expect(
        await ledger().claimRecordedItem({
          ...claimOf(retried.userId, retried.decisionUuid),
          retryKey: 'k1',
          noItemAnswer: 'null',
          candidates: [{ itemId: 'gift', answer: '"gift"' }],
        }),
      ).toBe('"gift"');
      // A key without an expiry would outlive the reservation it holds: the user's sends would never go away.
      for (const userId of [plain.userId, retried.userId]) {
        expect(await redis.zcard(keys.pushSends(userId))).toBe(1);
        expect(await redis.pttl(keys.pushSends(userId))).toBeGreaterThan(retention - 60_000);
      }
    });

    it('gives concurrent decisions of one user different items', async () => {
      const userId = `claim-${randomUUID()}`;
      const decisions = Array.from({ length: 5 }, () => decision(userId));
      await Promise.all(decisions.map((d) => ledger().decide(d, null)));
      const claimed = await Promise.all(
        decisions.map((d) =>
          ledger().claimItem({
            userId,
            decisionUuid: d.decisionUuid,
            nowMs: NOW,
            exclusionMs: 60_000,
            candidates: ['a', 'b', 'c'],
          }),
        ),
      );
      expect(claimed.filter((item) => item !== null).sort()).toEqual(['a', 'b', 'c']);
      expect(claimed.filter((item) => item === null)).toHaveLength(2);
    });

    it('reads the counted sends and the profile time zone in one call', async () => {
      const userId = `state-${randomUUID()}`;
      await backend().redis.hset(backend().keys.userProfile(userId), 'timezone', 'Asia/Tokyo');
      await ledger().decide(decision(userId, { channel: 'email', category: 'sä\tlé' }), null);
      await ledger().decide(decision(userId, { reserve: 'exempt', checkCaps: false }), null);
      expect(await ledger().readUserState(userId, NOW - 1)).toEqual({
        sends: [{ atMs: NOW, channel: 'email', category: 'sä\tlé', overridden: false, priority: 'normal' }],
        timezone: 'Asia/Tokyo',
      });
    });

    it('records a low-priority send in its reservation, counted like any other send', async () => {
      const userId = `low-${randomUUID()}`;
      const { keys, redis } = backend();
      const low = decision(userId, { priority: 'low', rules: rules(3) });
      expect((await ledger().decide(low, null)).result).toMatchObject({ reason: 'ok', usage: [{ used: 1 }] });
      await ledger().decide(decision(userId, { nowMs: NOW + 1, priority: 'high', rules: rules(3) }), null);
      const normal = await ledger().decide(
        decision(userId, { nowMs: NOW + 2, priority: 'normal', rules: rules(3) }),
        null,
      );
      expect(normal.result).toMatchObject({ reason: 'ok', usage: [{ used: 3 }] });
      // Full at three, whatever the priorities of the sends it holds.
      const refused = await ledger().decide(decision(userId, { nowMs: NOW + 3, rules: rules(3) }), null);
      expect(refused.result).toMatchObject({ reason: 'cap_exceeded', usage: [{ used: 3 }] });
      const claim = { userId, decisionUuid: low.decisionUuid, nowMs: NOW, exclusionMs: 60_000 };
      expect(await ledger().claimItem({ ...claim, candidates: ['gift'] })).toBe('gift');
      const members = await redis.zrange(keys.pushSends(userId), 0, -1);
      expect(members.map((member) => member[0])).toEqual(['l', 'c', 'c']);
      expect((await ledger().readUserState(userId, NOW - 1)).sends).toEqual([
        { atMs: NOW, channel: 'push', category: null, overridden: false, priority: 'low' },
        { atMs: NOW + 1, channel: 'push', category: null, overridden: false, priority: 'normal' },
        { atMs: NOW + 2, channel: 'push', category: null, overridden: false, priority: 'normal' },
      ]);
      expect(await ledger().release(userId, low.decisionUuid, NOW)).toBe(true);
      expect((await ledger().readUserState(userId, NOW - 1)).sends).toHaveLength(2);
    });
  });

  describe('consent and time zones', () => {
    it('evaluates quiet hours in the profile time zone, retrying a wrong guess, and honours a refusal', async () => {
      const userId = `tz-${randomUUID()}`;
      await backend().redis.hset(backend().keys.userProfile(userId), 'timezone', 'Asia/Tokyo');
      const asked: string[] = [];
      const quietFor = (timezone: string) => {
        asked.push(timezone);
        return timezone === 'Asia/Tokyo';
      };
      const timezones = new Map<string, string>();
      const outcome = await ledger().decide(decision(userId), quietFor, timezones);
      expect(asked).toEqual(['', 'Asia/Tokyo']);
      expect(outcome).toMatchObject({ timezone: 'Asia/Tokyo', result: { reason: 'quiet_hours' } });
      // The time zone is remembered: one call.
      asked.length = 0;
      await ledger().decide(decision(userId), quietFor, timezones);
      expect(asked).toEqual(['Asia/Tokyo']);

      await backend().redis.hset(backend().keys.userProfile(userId), 'push', '0');
      expect((await ledger().decide(decision(userId), null)).result.reason).toBe('no_consent');
    });
  });

  describe('erasure', () => {
    const pushKeysLeft = async (userId: string) =>
      backend().redis.exists(...backend().keys.pushKeysAboutUser(userId));

    it('writes nothing for a user erased while decisions were in flight: refused as without consent', async () => {
      const userId = `erased-${randomUUID()}`;
      const earlier = decision(userId);
      expect((await ledger().decide(earlier, null)).result.reason).toBe('ok');
      await eraseUserLiveState(backend().redis, backend().keys, userId, 7);
      expect((await ledger().decide(decision(userId), null)).result.reason).toBe('no_consent');
      if (options.turnBatch) {
        const batched = ledger(backend().redis, new TurnBatch(backend().redis));
        expect((await batched.decide(decision(userId), null)).result.reason).toBe('no_consent');
      }
      const retried = await ledger().decideRetried(
        {
          ...decision(userId),
          retry: { key: 'send-1', fingerprint: 'f', context: '{}', periodMs: HOUR_MS },
        },
        null,
      );
      expect(retried).toMatchObject({ result: { reason: 'no_consent' } });
      // The earlier decision's item claim, arriving after the erasure, finds no reservation to hold it.
      const claim = { userId, decisionUuid: earlier.decisionUuid, nowMs: NOW, exclusionMs: 60_000 };
      expect(await ledger().claimItem({ ...claim, candidates: ['a'] })).toBeNull();
      expect(await ledger().release(userId, earlier.decisionUuid, NOW)).toBe(false);
      expect(await pushKeysLeft(userId)).toBe(0);
      // A dry run answers the same, and writes nothing either.
      expect((await ledger().decide(decision(userId, { reserve: 'none' }), null)).result.reason).toBe(
        'no_consent',
      );
      expect(await pushKeysLeft(userId)).toBe(0);
    });

    it('decides as usual for a user who came back after the erasure with a profile', async () => {
      const userId = `back-${randomUUID()}`;
      await eraseUserLiveState(backend().redis, backend().keys, userId, 7);
      // The PUT of their profile that followed the erasure (a later revision) is written through the mark.
      const profile = { personalization: true, push: true, timezone: null, revision: 8 };
      expect(await writeUserProfile(backend().redis, backend().keys, userId, profile)).toBe(true);
      expect((await ledger().decide(decision(userId), null)).result.reason).toBe('ok');
      expect(await backend().redis.zcard(backend().keys.pushSends(userId))).toBe(1);
    });
  });

  describe('config and counts', () => {
    it('publishes the config with a new version and reads both together', async () => {
      const store = ledger();
      const before = await store.readConfigVersion();
      const version = await store.publishConfig('{"rules":[]}');
      expect(version).not.toBe(before);
      expect(await store.readConfigVersion()).toBe(version);
      expect(await store.readConfig()).toEqual({ version, configJson: '{"rules":[]}' });
    });

    it('adds every field of a flush larger than one script call holds, across hours, and again on the next', async () => {
      const hour = 500_000 + Math.floor(Math.random() * 1_000_000);
      const fields = new Map<string, number>();
      for (let campaign = 0; campaign < 2_500; campaign++)
        fields.set(pushStatsField('push', 'ok', `campaign-${campaign}`), (campaign % 7) + 1);
      const nextHour = new Map([[pushStatsField('sms', 'quiet_hours', 'c\t0'), 4]]);
      const flush = new Map([
        [hour, fields],
        [hour + 1, nextHour],
      ]);
      await ledger().addStats(flush, 3_600);
      await ledger().addStats(flush, 3_600);

      const counts = await ledger().readStats(hour, hour + 2);
      expect(counts).toHaveLength(2_501);
      const byKey = new Map(counts.map((c) => [pushStatsField(c.channel, c.reason, c.campaignId), c.count]));
      for (const [field, count] of fields) expect(byKey.get(field)).toBe(2 * count);
      expect(byKey.get(pushStatsField('sms', 'quiet_hours', 'c\t0'))).toBe(8);
      expect(await backend().redis.ttl(backend().keys.pushStatsHour(hour))).toBeGreaterThan(3_500);
    });
  });

  describe('recent sends', () => {
    it("reads every user's counted sends since a time with their time zone, on every server, up to a bound", async () => {
      const keys = createKeys(`${backend().keys.prefix}recent-${randomUUID()}:`);
      const store = new PushLedger(backend().redis, keys);
      const since = NOW - HOUR_MS;
      const counted = Array.from({ length: 30 }, (_, i) => `counted-${i}`);
      await Promise.all(
        counted.map((userId, i) =>
          store.decide(decision(userId, { nowMs: NOW - i, category: `c${i}` }), null),
        ),
      );
      await backend().redis.hset(keys.userProfile('zoned'), 'timezone', 'Asia/Tokyo');
      await store.decide(decision('zoned', { nowMs: since + 1, channel: 'email', category: 'sä\tlé' }), null);
      await store.decide(decision('zoned', { nowMs: NOW }), null);
      // Left out: a send before `since`, an exempt send, and a released one.
      await store.decide(decision('earlier', { nowMs: since - 1 }), null);
      await store.decide(decision('exempt', { checkCaps: false, reserve: 'exempt' }), null);
      const released = decision('released');
      await store.decide(released, null);
      expect(await store.release('released', released.decisionUuid, NOW)).toBe(true);

      const { users, complete } = await store.readRecentSends(since, 100);
      expect(complete).toBe(true);
      expect(users).toHaveLength(31);
      expect(users).toContainEqual({
        sends: [
          { atMs: since + 1, channel: 'email', category: 'sä\tlé', overridden: false, priority: 'normal' },
          { atMs: NOW, channel: 'push', category: null, overridden: false, priority: 'normal' },
        ],
        timezone: 'Asia/Tokyo',
      });
      const single = users.filter((user) => user.timezone === '');
      expect(single.map((user) => user.sends).sort((a, b) => a[0]!.atMs - b[0]!.atMs)).toEqual(
        counted
          .map((_, i) => [
            { atMs: NOW - i, channel: 'push', category: `c${i}`, overridden: false, priority: 'normal' },
          ])
          .reverse(),
      );

      const bounded = await store.readRecentSends(since, 10);
      expect(bounded.complete).toBe(false);
      // The bound is on users scanned: of those, 'earlier' and 'exempt' have no counted send since then.
      expect(bounded.users.length).toBeGreaterThanOrEqual(8);
      expect(bounded.users.length).toBeLessThanOrEqual(10);
      for (const user of bounded.users) expect(users).toContainEqual(user);
    });
  });

  // Only a cluster has slots: a standalone server's run has no such tests rather than skipped ones.
  if (options.cluster)
    describe('slots', () => {
      it("puts every push key of a user in one slot whatever the id holds, and the config's keys together", async () => {
        const { keys } = backend();
        for (const userId of ['plain', 'a{b}c', '{x}', 'x}{', 'ünï\tcode', '}leading', '}']) {
          const slots = new Set(
            await Promise.all([keys.pushSends(userId), keys.pushItems(userId)].map(slotOf)),
          );
          expect(slots.size, userId).toBe(1);
        }
        // The decision script reads the profile and the history (an erasure's mark) beside the sends.
        for (const userId of ['plain', 'a{b}c', '{x}', 'x}{', '}leading']) {
          const slots = new Set(
            await Promise.all(
              [keys.pushSends(userId), keys.userProfile(userId), keys.userHistory(userId)].map(slotOf),
            ),
          );
          expect(slots.size, userId).toBe(1);
        }
        const configSlots = new Set(
          await Promise.all([keys.pushConfig(), keys.pushConfigVersion()].map(slotOf)),
        );
        expect(configSlots.size).toBe(1);
        const rulesSlots = new Set(
          await Promise.all([keys.rulesBoosts(), keys.rulesBoostsVersion()].map(slotOf)),
        );
        expect(rulesSlots.size).toBe(1);
      });

      it('spreads users over slots', async () => {
        const { keys } = backend();
        const slots = new Set(
          await Promise.all(Array.from({ length: 20 }, (_, i) => slotOf(keys.pushSends(`spread-${i}`)))),
        );
        expect(slots.size).toBeGreaterThan(1);
      });
    });
}
