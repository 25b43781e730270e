import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatDuration, httpEnv, loadEnv, parseDuration } from '../src/index';

const load = (env: Record<string, string>) => loadEnv(z.object(httpEnv(3000)), env, 'test');

describe('REDIS_COMMAND_TIMEOUT', () => {
  it('bounds a serving process’s wait for Redis: 1s unless set', () => {
    expect(load({}).REDIS_COMMAND_TIMEOUT).toBe(1_000);
    expect(load({ REDIS_COMMAND_TIMEOUT: '250ms' }).REDIS_COMMAND_TIMEOUT).toBe(250);
  });

  it('refuses no bound, a bound longer than the stall it is for, and what is no duration', () => {
    for (const text of ['0ms', '2m', 'soon', ''])
      expect(() => load({ REDIS_COMMAND_TIMEOUT: text }), text).toThrow(/REDIS_COMMAND_TIMEOUT=/);
  });
});

describe('formatDuration', () => {
  it('names milliseconds in the largest unit that shows them exactly, as a duration variable is written', () => {
    expect(
      [500, 1_000, 1_500, 10_000, 90_000, 100_000, 3_600_000, 86_400_000, 1].map(formatDuration),
    ).toEqual(['500ms', '1s', '1.5s', '10s', '1.5m', '100s', '1h', '1d', '1ms']);
    for (const ms of [1, 999, 1_001, 61_000, 7_200_000]) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});
