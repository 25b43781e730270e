import { createKeys } from '@elevens/redis-stores';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/** What Redis Cluster hashes of a key (the hash tag rule of the cluster specification), written out plainly. */
function hashedPart(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

const keys = createKeys('test:push-keys:');
// Ids made of the characters that matter to hash tags, and any others.
const userId = fc.string({
  unit: fc.constantFrom('{', '}', 'a', 'b', '\t', 'é', ':'),
  minLength: 1,
  maxLength: 8,
});

describe('user, push and catalog keys on a cluster', () => {
  it('hash every push key of a user by one non-empty tag, whatever the id holds', () => {
    fc.assert(
      fc.property(userId, (id) => {
        const tags = new Set([keys.pushSends(id), keys.pushItems(id)].map(hashedPart));
        expect(tags.size).toBe(1);
        expect([...tags][0]).not.toContain(keys.prefix);
      }),
    );
  });

  it('hash every key about a user, live state and push alike, by one tag, whatever the id holds', () => {
    fc.assert(
      fc.property(userId, fc.string({ maxLength: 4 }), (id, queryKey) => {
        const about = [...keys.keysAboutUser(id), keys.userReply(id, queryKey)];
        expect(new Set(about.map(hashedPart)).size).toBe(1);
      }),
    );
  });

  it('name the user of a push sends key, and no user of any other key', () => {
    fc.assert(
      fc.property(userId, (id) => {
        expect(keys.userOfPushSends(keys.pushSends(id))).toBe(id);
        expect(keys.userOfPushSends(keys.pushItems(id))).toBeNull();
        expect(keys.userOfPushSends(keys.userProfile(id))).toBeNull();
      }),
    );
  });

  it('give two different ids different keys', () => {
    fc.assert(
      fc.property(userId, userId, (a, b) => {
        fc.pre(a !== b);
        expect(keys.pushSends(a)).not.toBe(keys.pushSends(b));
      }),
    );
  });

  it('keep the config and its version together, the boost rules and theirs, the catalog holds and theirs', () => {
    expect(hashedPart(keys.pushConfig())).toBe(hashedPart(keys.pushConfigVersion()));
    expect(hashedPart(keys.rulesBoosts())).toBe(hashedPart(keys.rulesBoostsVersion()));
    expect(hashedPart(keys.catalogUnservable())).toBe(hashedPart(keys.catalogVersion()));
  });
});
