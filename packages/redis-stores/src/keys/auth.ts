/**
 * API-key and rate-limit keys. Slot-safe as they are: each command or script touches one key (the key table is
 * one string; a rate-limit counter is one key per API key, scope and window).
 */
export function authKeys(prefix: string) {
  return {
    /**
     * string: JSON copy of the active API keys (id, name, scopes, secret hash; never a secret), written by
     * serving processes when their key table changes and read only by a process that starts while Postgres is down
     */
    authKeyTable: () => `${prefix}auth:keys`,
    /** prefix of the rate-limit counters, one string per key, scope and window: `<this><keyId>:<scope>` */
    rateLimitPrefix: () => `${prefix}ratelimit:`,
  };
}
