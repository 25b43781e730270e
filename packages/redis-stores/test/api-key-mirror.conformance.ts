import { randomUUID } from 'node:crypto';
import { ApiKeyMirror, createKeys } from '@elevens/redis-stores';
import { expect, it } from 'vitest';
import type { RedisBackend } from './backends';

/** A Redis backend the key table's copy is kept on, as a test file set it up (its own key prefix). */
export type ApiKeyMirrorBackend = Pick<RedisBackend, 'keys' | 'redis' | 'connect'>;

/** A key table's JSON as the security plugin writes it: `count` keys, each with a secret's hash, never a secret. */
const tableJson = (count: number, name: string) =>
  JSON.stringify(
    Array.from({ length: count }, (_, i) => ({
      id: `key-${i}`,
      name: `${name} ${i}`,
      scopes: i % 2 === 0 ? ['recommendations:read'] : ['admin'],
      secretHash: `${i}`.padStart(64, 'f'),
    })),
  );

/**
 * The API key table copy's contract, the same on every backend: nothing to read until a table is written, then
 * the table last written, byte for byte, from any connection; each key prefix has its own copy.
 */
export function apiKeyMirrorConformance(backend: () => ApiKeyMirrorBackend) {
  const mirrorUnder = (suffix: string, redis = backend().redis) =>
    new ApiKeyMirror(redis, createKeys(`${backend().keys.prefix}${suffix}:`));

  it('reads nothing before a table is written', async () => {
    expect(await mirrorUnder(`empty-${randomUUID()}`).read()).toBeNull();
  });

  it('reads the table last written, as written, from another connection', async () => {
    const suffix = `table-${randomUUID()}`;
    const writer = mirrorUnder(suffix);
    // A large table and names beyond ASCII: the copy is the JSON text unchanged.
    const first = tableJson(5_000, 'Bäckerei «Nord» 🥨');
    await writer.write(first);
    const starting = backend().connect();
    try {
      const reader = mirrorUnder(suffix, starting);
      expect(await reader.read()).toBe(first);
      const second = tableJson(1, 'rotated');
      await writer.write(second);
      expect(await reader.read()).toBe(second);
      await writer.write('[]');
      expect(await reader.read()).toBe('[]');
    } finally {
      starting.disconnect();
    }
  });

  it('keeps one copy per key prefix, under the prefix', async () => {
    const { redis, keys } = backend();
    const [shopA, shopB] = [`shop-a-${randomUUID()}`, `shop-b-${randomUUID()}`];
    await mirrorUnder(shopA).write(tableJson(1, 'a'));
    await mirrorUnder(shopB).write(tableJson(2, 'b'));
    expect(await mirrorUnder(shopA).read()).toBe(tableJson(1, 'a'));
    expect(await mirrorUnder(shopB).read()).toBe(tableJson(2, 'b'));
    expect(await redis.get(createKeys(`${keys.prefix}${shopA}:`).authKeyTable())).toBe(tableJson(1, 'a'));
  });
}
