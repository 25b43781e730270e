import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { baseEnv, ConfigError, httpEnv, loadEnv } from '../src/index';

const schema = z.object({
  ...baseEnv,
  ...httpEnv(3000),
  LIMIT: z.coerce.number().int().min(0).default(200),
  RATIO: z.coerce.number().min(0).max(1).optional(),
});
const load = (env: Record<string, string>) => loadEnv(schema, env, 'test');

describe('a number variable set but left empty (`PORT=`, or `PORT=$PORT` with PORT unset)', () => {
  it('stops start-up with one line naming it, instead of reading it as 0', () => {
    // z.coerce.number() reads '' as 0: PORT= listened on a random port, a rate limit of '' lifted the limit.
    for (const [name, value] of [
      ['PORT', ''],
      ['PORT', '  '],
      ['SHUTDOWN_TIMEOUT_MS', ''],
      ['LIMIT', ''],
      ['RATIO', ' '],
    ] as const) {
      let error: unknown;
      try {
        load({ [name]: value });
      } catch (caught) {
        error = caught;
      }
      expect(error, name).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).not.toContain('\n');
      expect(message).toBe(
        `elevens test: invalid environment: ${name}=${JSON.stringify(value)}: is empty; give a number or unset it`,
      );
    }
  });

  it('names every empty one with the other bad variables, still in one line', () => {
    expect(() => load({ PORT: '', LIMIT: '', LOG_LEVEL: 'loud' })).toThrow(
      /^elevens test: invalid environment: (?=.*PORT="": is empty)(?=.*LIMIT="": is empty)(?=.*LOG_LEVEL="loud")[^\n]+$/,
    );
  });

  it('keeps numbers, unset variables and the variables where empty has a meaning as they were', () => {
    expect(load({})).toMatchObject({ PORT: 3000, LIMIT: 200, SHUTDOWN_TIMEOUT_MS: 10_000 });
    expect(load({ PORT: '0', LIMIT: ' 7 ' })).toMatchObject({ PORT: 0, LIMIT: 7 });
    expect(load({ RATIO: '0.5' }).RATIO).toBe(0.5);
    expect(load({}).RATIO).toBeUndefined();
    expect(load({ REDIS_KEY_PREFIX: '', REDIS_CLUSTER_NODES: '' })).toMatchObject({
      REDIS_KEY_PREFIX: '',
      REDIS_CLUSTER_NODES: undefined,
    });
  });
});
