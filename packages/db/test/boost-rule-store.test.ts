import type { BoostRulesReply } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoostRuleStore, EMPTY_BOOST_RULES, StaleBoostRulesVersion } from '../src';

let infra: TestInfra;
let store: BoostRuleStore;

beforeAll(async () => {
  infra = await createTestInfra('db-boost-rule-store');
  store = new BoostRuleStore(infra.pool);
});

afterAll(async () => {
  await infra.close();
});

const pinOf = (itemId: string) => ({ itemId, position: 1 });

describe('BoostRuleStore', () => {
  it('stores nothing when the copy cannot be published, and the next version follows the last stored one', async () => {
    expect(await store.latest()).toEqual(EMPTY_BOOST_RULES);
    const first = await store.append({ boosts: [], pins: [pinOf('a1')] }, 'ops (k1)', async () => {});
    await expect(
      store.append({ boosts: [], pins: [pinOf('a2')] }, 'ops (k1)', async () => {
        throw new Error('Redis is away');
      }),
    ).rejects.toThrow('Redis is away');
    expect(await store.latest()).toEqual(first);
    const next = await store.append({ boosts: [], pins: [pinOf('a3')] }, null, async () => {});
    expect(next.version).toBeGreaterThan(first.version);
    expect(await store.latest()).toEqual(next);
  });

  it('publishes concurrent changes one at a time, in version order', async () => {
    const published: number[] = [];
    let publishing = 0;
    let overlapped = false;
    const publish = async (stored: BoostRulesReply) => {
      publishing++;
      overlapped ||= publishing > 1;
      // A turn of the event loop in which another writer would run if the lock let it.
      await new Promise((resolve) => setImmediate(resolve));
      published.push(stored.version);
      publishing--;
    };
    const stored = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        store.append({ boosts: [], pins: [pinOf(`c${i}`)] }, null, publish),
      ),
    );
    expect(overlapped).toBe(false);
    expect(published).toEqual([...published].sort((a, b) => a - b));
    expect(new Set(stored.map((s) => s.version)).size).toBe(5);
    expect((await store.latest()).version).toBe(Math.max(...published));
  });

  it('stores a change made on an older version nothing, publishing nothing, and names the version in force', async () => {
    const inForce = await store.latest();
    const published: number[] = [];
    const failure = await store
      .append({ boosts: [], pins: [pinOf('stale')] }, null, async (s) => void published.push(s.version), [
        inForce.version - 1,
      ])
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StaleBoostRulesVersion);
    expect((failure as StaleBoostRulesVersion).currentVersion).toBe(inForce.version);
    expect(published).toEqual([]);
    expect(await store.latest()).toEqual(inForce);
    expect(await store.atVersion(inForce.version)).toEqual(inForce);
    expect(await store.atVersion(inForce.version + 1)).toBeNull();
  });
});
