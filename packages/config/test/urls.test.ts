import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { baseEnv, DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, loadEnv } from '../src/index';

const load = (env: Record<string, string>) => loadEnv(z.object(baseEnv), env, 'test');

describe('DATABASE_URL and REDIS_URL', () => {
  it('refuse a URL without a host in one line naming the variable', () => {
    // `redis:host:6379` (no //) passed, then ioredis threw a stack trace at start-up; `postgres:host/db` and
    // `redis://` passed and pointed at localhost: the api listened, healthy, on stores it never reached.
    for (const [name, url] of [
      ['REDIS_URL', 'redis:redis.internal:6379'],
      ['REDIS_URL', 'redis://'],
      ['REDIS_URL', 'rediss:///0'],
      ['DATABASE_URL', 'postgres:db.internal/elevens'],
      ['DATABASE_URL', 'postgres://'],
      ['DATABASE_URL', 'postgresql:///elevens'],
    ] as const)
      expect(() => load({ [name]: url }), url).toThrow(
        new RegExp(`^elevens test: invalid environment: ${name}=${JSON.stringify(url)}: [^\\n]*host[^\\n]*$`),
      );
  });

  it('take URLs with a host, and Postgres sockets named by ?host=', () => {
    expect(load({})).toMatchObject({ DATABASE_URL: DEFAULT_DATABASE_URL, REDIS_URL: DEFAULT_REDIS_URL });
    const env = {
      DATABASE_URL: 'postgresql://app:secret@db.internal:6432/elevens?sslmode=require',
      REDIS_URL: 'rediss://:secret@[::1]:6380/2',
    };
    expect(load(env)).toMatchObject(env);
    expect(load({ DATABASE_URL: 'postgres:///elevens?host=/var/run/postgresql' }).DATABASE_URL).toBe(
      'postgres:///elevens?host=/var/run/postgresql',
    );
  });
});
