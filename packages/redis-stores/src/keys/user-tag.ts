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
