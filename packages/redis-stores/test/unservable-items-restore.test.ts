import { UnservableItems } from '@elevens/redis-stores';
import { expect, it } from 'vitest';
import { describeOnEveryBackend } from './backends';

describeOnEveryBackend('the unservable set and its mark', 'cache-unservable-restore', (backend) => {
  it('is not whole until replaced; writes after a replace apply to the whole set', async () => {
    const { redis, keys } = backend();
    const unservable = new UnservableItems(redis, keys);
    expect(await unservable.state()).toEqual({ version: null, complete: false, unconfirmed: [] });
    // A write to a set Redis lost applies its change but says the set is not whole.
    expect(await unservable.record([{ itemId: 'partial', servable: false }], 0, 'w1')).toEqual({
      version: 1,
      whole: false,
    });
    expect(await unservable.read()).toEqual({ version: '1', complete: false, itemIds: ['partial'] });

    const restored = Array.from({ length: 2500 }, (_, n) => `held-${n}`);
    await unservable.replace(restored, 9000);
    expect(await unservable.state()).toEqual({ version: '9000', complete: true, unconfirmed: [] });
    expect(await unservable.record([{ itemId: 'held-0', servable: true }], 8000, 'w2')).toEqual({
      version: 9001,
      whole: true,
    });
    const read = await unservable.read();
    expect(read.version).toBe('9001');
    expect(read.complete).toBe(true);
    expect(read.itemIds.sort()).toEqual(restored.slice(1).sort());
  });

  it('applies writes of many items in one call', async () => {
    const { redis, keys } = backend();
    const unservable = new UnservableItems(redis, keys);
    const blocked = Array.from({ length: 2500 }, (_, n) => ({ itemId: `many-${n}`, servable: false }));
    await unservable.record(blocked, 0, 'w1');
    await unservable.record(
      blocked.slice(0, 1200).map((item) => ({ ...item, servable: true })),
      0,
      'w2',
    );
    const many = (await unservable.read()).itemIds.filter((itemId) => itemId.startsWith('many-'));
    expect(many.length).toBe(1300);
  });

  it('clears the mark when a write finds the set older than the newest version copied', async () => {
    const { redis, keys } = backend();
    const unservable = new UnservableItems(redis, keys);
    await unservable.replace(['old'], 100);
    // Postgres holds version 102 as copied: this Redis is a replica that lagged behind two writes.
    expect(await unservable.record([{ itemId: 'new', servable: false }], 102, 'w1')).toEqual({
      version: 101,
      whole: false,
    });
    expect(await unservable.state()).toEqual({ version: '101', complete: false, unconfirmed: ['w1'] });

    await unservable.replace(['old', 'new'], 200);
    await unservable.markPartial();
    expect(await unservable.state()).toEqual({ version: '200', complete: false, unconfirmed: [] });
  });
});
