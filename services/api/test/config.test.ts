import { describe, expect, it } from 'vitest';
import { loadApiConfig } from '../src/config';

const failure = (env: NodeJS.ProcessEnv): string => {
  try {
    loadApiConfig(env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
};

describe('api configuration', () => {
  it('refuses a history half-life under one minute, which weighs away all but the newest event', () => {
    for (const hours of ['1e-320', '0.01'])
      expect(failure({ RECS_HISTORY_HALF_LIFE_HOURS: hours })).toMatch(
        /RECS_HISTORY_HALF_LIFE_HOURS.*at least one minute/,
      );
    expect(loadApiConfig({ RECS_HISTORY_HALF_LIFE_HOURS: String(1 / 60) }).RECS_HISTORY_HALF_LIFE_HOURS).toBe(
      1 / 60,
    );
  });

  it('refuses a rate-limit window under one whole millisecond: its counters expired as they were made, so no limit was ever reached', () => {
    for (const window of ['0ms', '0s', '0.5ms', '1.5ms']) {
      const message = failure({ RATE_LIMIT_WINDOW: window });
      expect(message).toMatch(
        new RegExp(`^elevens api: invalid environment: RATE_LIMIT_WINDOW="${window}": `),
      );
      expect(message).not.toContain('\n');
    }
    expect(loadApiConfig({}).RATE_LIMIT_WINDOW).toBe(10_000);
    expect(loadApiConfig({ RATE_LIMIT_WINDOW: '500ms' }).RATE_LIMIT_WINDOW).toBe(500);
    expect(loadApiConfig({ RATE_LIMIT_WINDOW: '1.5s' }).RATE_LIMIT_WINDOW).toBe(1500);
  });

  it('refuses a push statistics retention of 0: the counters were written with EXPIRE 0, so none was ever kept', () => {
    expect(failure({ PUSH_STATS_RETENTION: '0d' })).toMatch(
      /^elevens api: invalid environment: PUSH_STATS_RETENTION="0d": /,
    );
    expect(loadApiConfig({}).PUSH_STATS_RETENTION).toBe(400 * 86_400_000);
    expect(loadApiConfig({ PUSH_STATS_RETENTION: '1h' }).PUSH_STATS_RETENTION).toBe(3_600_000);
  });

  it('refuses a limit, port or threshold left empty rather than reading it as 0 (no limit, a random port, no shedding)', () => {
    for (const name of [
      'RATE_LIMIT_ADMIN',
      'PORT',
      'PRESSURE_MAX_EVENT_LOOP_DELAY_MS',
      'PUSH_TIMEZONE_CACHE_ENTRIES',
    ])
      expect(failure({ [name]: '' })).toBe(
        `elevens api: invalid environment: ${name}="": is empty; give a number or unset it`,
      );
    expect(loadApiConfig({ RATE_LIMIT_ADMIN: '0', PORT: '0' })).toMatchObject({
      RATE_LIMIT_ADMIN: 0,
      PORT: 0,
    });
  });
});

describe('api durations', () => {
  it('refuses a reply-cache TTL in fractions of a millisecond: Redis refused its PX, so no answer was ever cached', () => {
    expect(failure({ RECOMMENDATION_CACHE_TTL: '2.5ms' })).toBe(
      'elevens api: invalid environment: RECOMMENDATION_CACHE_TTL="2.5ms": not a whole number of milliseconds: "2.5ms"',
    );
    expect(loadApiConfig({ RECOMMENDATION_CACHE_TTL: '0' }).RECOMMENDATION_CACHE_TTL).toBe(0);
    expect(loadApiConfig({}).RECOMMENDATION_CACHE_TTL).toBe(120_000);
  });

  it("refuses a reply-cache TTL over an hour: an answer outlived its trending hour and an erasure's mark", () => {
    expect(failure({ RECOMMENDATION_CACHE_TTL: '61m' })).toBe(
      'elevens api: invalid environment: RECOMMENDATION_CACHE_TTL="61m": must be 1h or less: trending is hourly, and an erasure\'s mark lasts 1h',
    );
    expect(loadApiConfig({ RECOMMENDATION_CACHE_TTL: '1h' }).RECOMMENDATION_CACHE_TTL).toBe(3_600_000);
  });
});
