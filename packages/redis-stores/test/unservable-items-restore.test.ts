import { UnservableItems } from '@elevens/redis-stores';
import { expect, it } from 'vitest';
import { describeOnEveryBackend } from './backends';

describeOnEveryBackend('the unservable set and its mark', 'cache-unservable-restore', (backend) => {
  it('is not whole until replaced; writes after a replace apply to the whole set', async () => {
    const { redis, keys } = backend();
    const unservable = new UnservableItems(redis, keys);
    expect(await unservable.state()).toEqual({ version: null, complete: false });
    // A write to a set Redis lost applies its change but says the set is not whole.
    expect(await unservable.record([{ itemId: 'partial', servable: false }])).toBe(false);
    expect(await unservable.read()).toEqual({ version: '1', complete: false, itemIds: ['partial'] });

    const restored = Array.from({ length: 2500 }, (_, n) => `held-${n}`);
    await unservable.replace(restored, 9000);
    expect(await unservable.state()).toEqual({ version: '9000', complete: true });
    expect(await unservable.record([{ itemId: 'held-0', servable: true }])).toBe(true);
    const read = await unservable.read();
    expect(read.version).toBe('9001');
    expect(read.complete).toBe(true);
    expect(read.itemIds.sort()).toEqual(restored.slice(1).sort());
  });
});
