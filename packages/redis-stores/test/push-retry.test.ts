import { randomUUID } from 'node:crypto';
import { PushLedger, type PushLedgerDecision, packPushRules } from '@elevens/redis-stores';
import { expect, it } from 'vitest';
import { describeOnEveryBackend } from './backends';

const HOUR_MS = 3_600_000;
const NOW = 1_800_000_000_000;

const attempt = (
  userId: string,
  key: string,
  nowMs = NOW,
): PushLedgerDecision & {
  retry: { key: string; fingerprint: string; context: string; periodMs: number };
} => ({
  userId,
  // Every attempt has its own uuid, as each api request draws one: a retry must get the first one's back.
  decisionUuid: randomUUID(),
  nowMs,
  channel: 'push',
  category: null,
  campaignId: 'flash',
  duplicateMs: HOUR_MS,
  checkCaps: true,
  reserve: 'counted',
  retentionMs: 31 * 24 * HOUR_MS,
  rules: packPushRules([
    {
      channel: 'any',
      category: null,
      windowMs: HOUR_MS,
      effectiveLimit: 5,
      activeUntilMs: null,
      startsAtMs: null,
    },
  ]),
  retry: { key, fingerprint: 'same request', context: '{"from":"the first attempt"}', periodMs: HOUR_MS },
});

describeOnEveryBackend('push ledger retried decisions', 'cache-push-retry', (backend, { cluster }) => {
  it('records one decision for 100 concurrent attempts with one key from two clients, reserving once', async () => {
    const { redis, keys } = backend();
    const second = backend().connect();
    try {
      const ledgers = [new PushLedger(redis, keys), new PushLedger(second, keys)];
      const userId = `retry-${randomUUID()}`;
      const outcomes = await Promise.all(
        Array.from({ length: 100 }, (_, i) => ledgers[i % 2]!.decideRetried(attempt(userId, 'k-1'), null)),
      );
      const decided = outcomes.filter((outcome) => 'result' in outcome);
      expect(decided).toHaveLength(1);
      const replays = outcomes.flatMap((outcome) => ('replay' in outcome ? [outcome.replay] : []));
      expect(replays).toHaveLength(99);
      const first = replays[0]!;
      for (const replay of replays) expect(replay).toEqual(first);
      expect(first).toMatchObject({
        atMs: NOW,
        fingerprint: 'same request',
        context: '{"from":"the first attempt"}',
        item: null,
      });
      expect(first.result).toMatchObject({ reason: 'ok', usage: [{ used: 1, freeingSendMs: NOW }] });
      expect(await redis.zcard(keys.pushSends(userId))).toBe(1);
      if (cluster)
        expect(await backend().slotOf(keys.pushRetries(userId))).toBe(
          await backend().slotOf(keys.pushSends(userId)),
        );
    } finally {
      second.disconnect();
    }
  });

  it('records the claimed item for the decision, and answers it to a later claim of the same decision', async () => {
    const { redis, keys } = backend();
    const ledger = new PushLedger(redis, keys);
    const userId = `retry-item-${randomUUID()}`;
    const first = attempt(userId, 'k-2');
    await ledger.decideRetried(first, null);
    const claim = {
      userId,
      decisionUuid: first.decisionUuid,
      nowMs: NOW,
      exclusionMs: HOUR_MS,
      retryKey: 'k-2',
      noItemAnswer: 'null',
    };
    const answer = '{"itemId":"sku\\t1","score":0.5,"source":"personal"}';
    expect(await ledger.claimRecordedItem({ ...claim, candidates: [{ itemId: 'sku\t1', answer }] })).toBe(
      answer,
    );
    expect(
      await ledger.claimRecordedItem({ ...claim, candidates: [{ itemId: 'other', answer: '{}' }] }),
    ).toBe(answer);
    const retried = await ledger.decideRetried(attempt(userId, 'k-2'), null);
    expect(retried).toMatchObject({ replay: { decisionUuid: first.decisionUuid, item: answer } });
  });

  it('records that the decision got no item, and answers none to a later claim that has candidates', async () => {
    const { redis, keys } = backend();
    const ledger = new PushLedger(redis, keys);
    const userId = `retry-no-item-${randomUUID()}`;
    const first = attempt(userId, 'k-5');
    await ledger.decideRetried(first, null);
    const claim = {
      userId,
      decisionUuid: first.decisionUuid,
      nowMs: NOW,
      exclusionMs: HOUR_MS,
      retryKey: 'k-5',
      noItemAnswer: 'none',
    };
    // The first attempt had nothing to recommend (no model yet).
    expect(await ledger.claimRecordedItem({ ...claim, candidates: [] })).toBe('none');
    // A retry once a model is served has candidates, and gets what the first attempt answered.
    const sku = '{"itemId":"sku-1"}';
    expect(await ledger.claimRecordedItem({ ...claim, candidates: [{ itemId: 'sku-1', answer: sku }] })).toBe(
      'none',
    );
    expect(await ledger.recentlyPushedItems(userId, NOW - HOUR_MS)).toEqual([]);
    const retried = await ledger.decideRetried(attempt(userId, 'k-5'), null);
    expect(retried).toMatchObject({ replay: { decisionUuid: first.decisionUuid, item: 'none' } });
    // Another decision of the user claims the item.
    const other = attempt(userId, 'k-6', NOW + 1);
    await ledger.decideRetried({ ...other, campaignId: 'another' }, null);
    expect(
      await ledger.claimRecordedItem({
        ...claim,
        decisionUuid: other.decisionUuid,
        nowMs: NOW + 1,
        retryKey: 'k-6',
        candidates: [{ itemId: 'sku-1', answer: sku }],
      }),
    ).toBe(sku);
  });

  it('decides again once the retry period is over, and drops the expired record', async () => {
    const { redis, keys } = backend();
    const ledger = new PushLedger(redis, keys);
    const userId = `retry-late-${randomUUID()}`;
    await ledger.decideRetried(attempt(userId, 'k-3'), null);
    const later = NOW + HOUR_MS + 60_000;
    const again = await ledger.decideRetried({ ...attempt(userId, 'k-4', later) }, null);
    expect('result' in again).toBe(true);
    expect(await redis.hexists(keys.pushRetries(userId), 'kk-3')).toBe(0);
    expect('result' in (await ledger.decideRetried(attempt(userId, 'k-3', later), null))).toBe(true);
  });
});
