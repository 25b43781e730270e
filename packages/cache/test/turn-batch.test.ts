import { TurnBatch } from '@elevens/cache';
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
