import { randomUUID } from 'node:crypto';
import {
  decidePushInTurn,
  type PushDecideInput,
  packPushRules,
  readUserState,
  recordLiveEvents,
  TurnBatch,
} from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('cache-turn-batch');
});

afterAll(async () => {
  await infra.close();
});

describe('TurnBatch', () => {
  it('answers each command of a turn on its own, a failing one included, and serves later turns', async () => {
    const key = (name: string) => `${infra.keyPrefix}${name}`;
    await infra.redis.mset(key('a'), '1', key('b'), '2');
    const batch = new TurnBatch(infra.redis);
    const replies = await Promise.allSettled([
      batch.send('mget', [key('a'), key('b')]),
      // Arguments the decision script cannot read: its error fails this command only.
      batch.send('elevensPushDecide', [
        key('profile'),
        key('sends'),
        key('history'),
        'not the packed arguments',
        '*',
        'c',
        '',
        '',
      ]),
      batch.send('mget', [key('b'), key('missing')]),
    ]);
    expect(replies[0]).toEqual({ status: 'fulfilled', value: ['1', '2'] });
    expect(replies[1]?.status).toBe('rejected');
    expect(String((replies[1] as PromiseRejectedResult).reason)).toMatch(/ERR/);
    expect(replies[2]).toEqual({ status: 'fulfilled', value: ['2', null] });
    expect(await batch.send('mget', [key('a')])).toEqual(['1']);
  });
});

describe('TurnBatch after Redis lost its scripts', () => {
  it('decides through EVAL when EVALSHA answers NOSCRIPT, then by EVALSHA again', async () => {
    const batch = new TurnBatch(infra.redis);
    const input = (userId: string): PushDecideInput => ({
      userId,
      decisionUuid: randomUUID(),
      nowMs: Date.now(),
      channel: 'push',
      category: null,
      campaignId: 'campaign-1',
      duplicateMs: 60_000,
      assumedTimezone: null,
      quiet: false,
      checkCaps: true,
      reserve: 'counted',
      retentionMs: 86_400_000,
      rules: packPushRules([
        {
          channel: 'push',
          category: null,
          windowMs: 3_600_000,
          effectiveLimit: 1,
          activeUntilMs: null,
          startsAtMs: null,
        },
      ]),
    });
    // Other test files share this Redis: their clients reload the scripts the same way.
    await infra.redis.script('FLUSH');
    const [first, second] = await Promise.all([
      decidePushInTurn(batch, infra.keys, input('noscript-user')),
      decidePushInTurn(batch, infra.keys, input('noscript-user')),
    ]);
    // The same campaign twice in one turn: the first is reserved, the second finds it.
    expect(first).toMatchObject({ kind: 'decided', reason: 'ok' });
    expect(second).toMatchObject({ kind: 'decided', reason: 'duplicate_campaign' });
    const third = await decidePushInTurn(batch, infra.keys, input('noscript-user'));
    expect(third).toMatchObject({ kind: 'decided', reason: 'duplicate_campaign' });
  });
});

describe('TurnBatch scripts of its own (BatchScript)', () => {
  it('runs them by EVAL when Redis lost them, then by EVALSHA again', async () => {
    const batch = new TurnBatch(infra.redis);
    await recordLiveEvents(infra.redis, infra.keys, [
      { userId: 'script-user', itemId: 'i1', type: 'view', timestampMs: 1_000 },
      { userId: 'script-user', itemId: 'i2', type: 'purchase', timestampMs: 2_000 },
    ]);
    await infra.redis.script('FLUSH');
    const expected = {
      history: [
        { type: 'purchase', itemId: 'i2', timestampMs: 2_000 },
        { type: 'view', itemId: 'i1', timestampMs: 1_000 },
      ],
      purchased: ['i2'],
      personalization: true,
    };
    expect(await readUserState(batch, infra.keys, 'script-user', 50)).toEqual(expected);
    expect(await readUserState(batch, infra.keys, 'script-user', 1)).toEqual({
      ...expected,
      history: expected.history.slice(0, 1),
    });
  });
});
