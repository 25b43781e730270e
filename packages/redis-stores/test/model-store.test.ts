import { deleteKeysWithPrefix, ModelStore } from '@elevens/redis-stores';
import { beforeEach, describe, expect, it } from 'vitest';
import { describeOnEveryBackend, type RedisBackend } from './backends';
import { modelStoreConformance, syntheticModel } from './model-store.conformance';

/**
 * A build takes its line (`takeOver`) once it holds it, and checks its hold again right before its switch
 * (`beforeSwitch`): one that lost its hold after that check is fenced off by its successor's takeOver.
 */
function buildFencing(backend: () => RedisBackend) {
  const line = () => new ModelStore(backend().redis, backend().keys).line('fenced');
  const states = async () => Object.fromEntries((await line().versions()).map((v) => [v.version, v.state]));

  beforeEach(async () => {
    await deleteKeysWithPrefix(backend().redis, `${backend().keys.prefix}model:`);
  });

  it('runs beforeSwitch once every part is written, and switches nothing when it throws', async () => {
    await line().publish(syntheticModel('served', 20, 3));
    let wholeAtCheck = false;
    const refused = line().publish(syntheticModel('unchecked', 20, 3), {
      beforeSwitch: async () => {
        wholeAtCheck = await line().holds('unchecked');
        throw new Error('lost its hold');
      },
    });
    await expect(refused).rejects.toThrow('lost its hold');
    expect(wholeAtCheck).toBe(true);
    expect(await line().current()).toBe('served');
    expect(await states()).toEqual({ served: 'current', unchecked: 'publishing' });
  });

  it('frees every version left publishing, however new, and refuses its switch even after its check passed', async () => {
    await line().publish(syntheticModel('served', 20, 3));
    let freed: string[] = [];
    // The stale build passed its check, then paused; its successor took the line and published meanwhile.
    const stale = line().publish(syntheticModel('stale', 20, 3), {
      now: () => Date.now() + 60_000,
      beforeSwitch: async () => {
        freed = await line().takeOver();
        await line().publish(syntheticModel('successor', 20, 3));
      },
    });
    await expect(stale).rejects.toThrow(/stale/);
    expect(freed).toEqual(['stale']);
    expect(await line().current()).toBe('successor');
    expect(await backend().redis.exists(...backend().keys.modelVersionKeys('stale', 'fenced'))).toBe(0);
    expect(await states()).toEqual({ successor: 'current', served: 'published' });
    // Published versions are no business of a takeover.
    expect(await line().takeOver()).toEqual([]);
  });
}

describeOnEveryBackend('model store', 'model-store', (backend, options) => {
  modelStoreConformance(backend, options);
  describe('a build’s hold on its line', () => buildFencing(backend));
});
