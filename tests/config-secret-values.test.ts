/**
 * A bad variable stops start-up with one line naming it, and that line goes to the process's output, which log
 * collectors keep: it must not carry a password from a URL or a secret key.
 */
import { loadApiConfig } from '@elevens/api';
import { loadIngestConfig } from '@elevens/ingest';
import { describe, expect, it } from 'vitest';

/** The message a loader stops with for `env`. */
function refusal(load: (env: NodeJS.ProcessEnv) => unknown, env: NodeJS.ProcessEnv): string {
  try {
    load(env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`${JSON.stringify(env)} was accepted`);
}

describe('start-up refusals show no secrets', () => {
  it('names a bad DATABASE_URL or REDIS_URL without its password', () => {
    for (const load of [loadApiConfig, loadIngestConfig]) {
      for (const [name, value] of [
        ['DATABASE_URL', 'postgres://elevens:pg-password-1@/elevens'],
        ['DATABASE_URL', 'mysql://elevens:pg-password-1@db.internal/elevens'],
        ['DATABASE_URL', 'mysql://elevens:pg@password-1@db.internal/elevens'],
        ['DATABASE_URL', 'mysql://db.internal/elevens?user=elevens&password=pg-password-1'],
        ['REDIS_URL', 'redis://:redis-password-2@'],
        ['REDIS_URL', 'http://default:redis-password-2@cache.internal:6379'],
      ] as const) {
        const message = refusal(load, { [name]: value });
        expect(message, value).toMatch(new RegExp(`^elevens (api|ingest): invalid environment: ${name}=`));
        expect(message, value).not.toMatch(/password-\d/);
        expect(message, value).toContain('***');
      }
    }
  });

  it('names a bad LOG_USER_ID_HASH_KEY without its value', () => {
    const message = refusal(loadApiConfig, {
      LOG_HASH_USER_IDS: 'true',
      LOG_USER_ID_HASH_KEY: 'hmac-key-short',
    });
    expect(message).toMatch(/^elevens api: invalid environment: LOG_USER_ID_HASH_KEY[: ]/);
    expect(message).toMatch(/16/);
    expect(message).not.toContain('hmac-key-short');
  });

  it('still shows the values of other variables', () => {
    expect(refusal(loadIngestConfig, { PORT: 'eighty' })).toContain('PORT="eighty"');
  });
});
