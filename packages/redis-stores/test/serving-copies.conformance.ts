import {
  BoostRulesMirror,
  epochHourOf,
  LiveState,
  PushLedger,
  TrendingCounts,
  TurnBatch,
  UnservableItems,
} from '@elevens/redis-stores';
import { expect, it } from 'vitest';
import type { RedisBackend } from './backends';

/** A Redis backend the stores run on, as a test file set it up (its own key prefix). */
export type ServingCopiesBackend = Pick<RedisBackend, 'keys' | 'redis'>;

const NOW = 1_800_000_000_000;

/** A boost rule set as the API mirrors it, reduced to its version and one pin. */
const ruleSet = (version: number, pinned: string) => ({ version, pins: [{ itemId: pinned, position: 1 }] });

/**
 * The contract of the stores serving processes poll (the unservable items, the boost rules and push config
 * copies) and of the
 * trending read, the same on every backend: each write of a store is one pipeline or transaction over keys of
 * one slot.
 */
export function servingCopiesConformance(backend: () => ServingCopiesBackend) {
  it('mirrors servability after each catalog write and bumps the version readers poll', async () => {
    const { redis, keys } = backend();
    const unservable = new UnservableItems(redis, keys);
    expect((await unservable.state()).version).toBeNull();
    await unservable.record(
      [
        { itemId: 'i1', servable: false },
        { itemId: 'i2', servable: false },
        { itemId: 'i3', servable: true },
      ],
      0,
      'write-1',
    );
    expect((await unservable.read()).itemIds.sort()).toEqual(['i1', 'i2']);
    const first = (await unservable.state()).version;
    await unservable.record([{ itemId: 'i1', servable: true }], 0, 'write-2');
    expect((await unservable.read()).itemIds).toEqual(['i2']);
    expect(Number((await unservable.state()).version)).toBe(Number(first) + 1);
  });

  it('marks a catalog write unconfirmed with its change until confirmed or the set is restored', async () => {
    const { redis, keys } = backend();
    const unservable = new UnservableItems(redis, keys);
    await unservable.replace(['i1'], 10);
    await unservable.record([{ itemId: 'i1', servable: true }], 10, 'unblock-1');
    expect(await unservable.state()).toEqual({ version: '11', complete: true, unconfirmed: ['unblock-1'] });
    await unservable.confirm('unblock-1');
    expect((await unservable.state()).unconfirmed).toEqual([]);
    await unservable.record([{ itemId: 'i2', servable: true }], 11, 'unblock-2');
    await unservable.replace(['i1', 'i2'], 20);
    expect(await unservable.state()).toEqual({ version: '20', complete: true, unconfirmed: [] });
    expect((await unservable.read()).itemIds.sort()).toEqual(['i1', 'i2']);
  });

  it('holds one boost rule set with its version; a restore never replaces a newer write', async () => {
    const { redis, keys } = backend();
    const mirror = new BoostRulesMirror(redis, keys);
    expect((await mirror.state()).version).toBeNull();
    expect(await mirror.read()).toBeNull();
    await mirror.restore(ruleSet(3, 'p3'));
    expect((await mirror.state()).version).toBe(3);
    await mirror.write(ruleSet(4, 'p4'), 'change-4');
    await mirror.restore(ruleSet(3, 'p3'));
    expect((await mirror.state()).version).toBe(4);
    expect(await mirror.read()).toEqual(ruleSet(4, 'p4'));
  });

  it('marks a boost rule change unconfirmed with its copy until confirmed or the committed set is written', async () => {
    const { redis, keys } = backend();
    const mirror = new BoostRulesMirror(redis, keys);
    await mirror.writeCommitted(ruleSet(6, 'p6'));
    expect(await mirror.state()).toEqual({ version: 6, unconfirmed: [] });
    await mirror.write(ruleSet(7, 'p7'), 'change-7');
    expect(await mirror.state()).toEqual({ version: 7, unconfirmed: ['change-7'] });
    await mirror.confirm('change-7');
    expect(await mirror.state()).toEqual({ version: 7, unconfirmed: [] });
    await mirror.write(ruleSet(8, 'p8'), 'change-8');
    await mirror.writeCommitted(ruleSet(7, 'p7'));
    expect(await mirror.state()).toEqual({ version: 7, unconfirmed: [] });
    expect(await mirror.read()).toEqual(ruleSet(7, 'p7'));
  });

  it('marks a push config change unconfirmed with its copy until confirmed or the committed config is written', async () => {
    const { redis, keys } = backend();
    const ledger = new PushLedger(redis, keys);
    const first = await ledger.publishConfig('{"rules":[1]}', 'change-a');
    expect(await ledger.readConfigState()).toEqual({ version: first, unconfirmed: ['change-a'] });
    await ledger.confirmConfig('change-a');
    expect(await ledger.readConfigState()).toEqual({ version: first, unconfirmed: [] });
    await ledger.publishConfig('{"rules":[2]}', 'change-b');
    const committed = await ledger.publishConfig('{"rules":[1]}');
    expect(await ledger.readConfigState()).toEqual({ version: committed, unconfirmed: [] });
    expect(await ledger.readConfig()).toEqual({ version: committed, configJson: '{"rules":[1]}' });
  });

  it('never publishes a push config version again, even after Redis lost the config and its version', async () => {
    const { redis, keys } = backend();
    const ledger = new PushLedger(redis, keys);
    const lose = () => redis.del(keys.pushConfig(), keys.pushConfigVersion(), keys.pushConfigUnconfirmed());
    await lose();
    // What a process may still hold from before the loss: any version published then.
    const before = new Set<string>();
    for (let i = 0; i < 3; i++) before.add(await ledger.publishConfig(`{"rules":[${i}]}`));
    expect(before.size).toBe(3);
    await lose();
    for (let i = 0; i < 3; i++) {
      const version = await ledger.publishConfig(`{"rules":[${i + 10}]}`);
      expect(before.has(version)).toBe(false);
      expect(await ledger.readConfigState()).toEqual({ version, unconfirmed: [] });
    }
  });

  it("reads an hour's most counted items with their weights, as the live state's events added them", async () => {
    const { redis, keys } = backend();
    const live = new LiveState(redis, keys, new TurnBatch(redis));
    await live.recordEvents([
      { userId: 'u1', itemId: 'viewed', type: 'view', timestampMs: NOW },
      { userId: 'u2', itemId: 'bought', type: 'purchase', timestampMs: NOW },
      { userId: 'u3', itemId: 'carted', type: 'cart', timestampMs: NOW, anonymous: true },
      { userId: 'u1', itemId: 'earlier', type: 'purchase', timestampMs: NOW - 3_600_000 },
    ]).trendingCounted;
    const trending = new TrendingCounts(redis, keys);
    expect(await trending.topOfHour(epochHourOf(NOW), 2)).toEqual(['bought', '5', 'carted', '3']);
    expect(await trending.topOfHour(epochHourOf(NOW) - 1, 10)).toEqual(['earlier', '5']);
  });
}
