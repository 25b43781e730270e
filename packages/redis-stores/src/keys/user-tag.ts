import { createHash } from 'node:crypto';

/**
 * The part of a user's keys that names the user, as a Redis Cluster hash tag: every key built with it for one
 * user lands in one slot, so a script over the user's keys is slot-safe. Redis hashes the text between the first
 * '{' and the next '}', so an id that starts with '}' would leave that empty (each key hashed whole, the user's
 * keys spread over slots): such an id gets a tag of its hash instead, with the id after a NUL, which no other id
 * contains, so no two ids share keys.
 */
export function userTag(userId: string): string {
  if (!userId.startsWith('}')) return `{${userId}}`;
  return `{${createHash('sha1').update(userId).digest('hex').slice(0, 16)}}\0${userId}`;
}

/** The user id a `userTag` was made of, or null when `tag` is not one. */
export function userIdOfTag(tag: string): string | null {
  const hashed = /^\{[0-9a-f]{16}\}\0(\}.*)$/s.exec(tag);
  if (hashed && userTag(hashed[1]!) === tag) return hashed[1]!;
  const plain = tag.slice(1, -1);
  return userTag(plain) === tag ? plain : null;
}
