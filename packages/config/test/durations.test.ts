import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Duration, httpEnv, loadEnv, parseDuration } from '../src/index';

const load = (env: Record<string, string>) =>
  loadEnv(z.object({ ...httpEnv(3000), TTL: Duration.default(120_000) }), env, 'test');

describe('duration variables', () => {
  it('refuse a fraction of a millisecond (Redis refuses a PX of 2.5: the reply cache never stored an answer)', () => {
    for (const text of ['2.5ms', '0.0001s'])
      expect(() => load({ TTL: text })).toThrow(
        `elevens test: invalid environment: TTL=${JSON.stringify(text)}: not a whole number of milliseconds: ${JSON.stringify(text)}`,
      );
    expect(load({ TTL: '1.5h' }).TTL).toBe(5_400_000);
    expect(load({ TTL: '0.5s' }).TTL).toBe(500);
    expect(load({ TTL: '0ms' }).TTL).toBe(0);
    expect(load({ TTL: '1.001s' }).TTL).toBe(1001);
  });

  it('reads decimal fractions exactly (1.001s was 1000.9999999999999 ms)', () => {
    expect(parseDuration('1.001s')).toBe(1001);
    expect(parseDuration('2.017m')).toBe(121_020);
    expect(parseDuration('0.5ms')).toBe(0.5);
    expect(parseDuration('90d')).toBe(90 * 86_400_000);
  });
});

describe('SHUTDOWN_TIMEOUT_MS', () => {
  it('refuses more than a timer can wait (2^31 - 1 ms): Node fired it after 1 ms, ending the process mid-request', () => {
    expect(() => load({ SHUTDOWN_TIMEOUT_MS: String(2 ** 31) })).toThrow(
      /^elevens test: invalid environment: SHUTDOWN_TIMEOUT_MS="2147483648": [^\n]+$/,
    );
    expect(load({ SHUTDOWN_TIMEOUT_MS: String(2 ** 31 - 1) }).SHUTDOWN_TIMEOUT_MS).toBe(2 ** 31 - 1);
    expect(load({}).SHUTDOWN_TIMEOUT_MS).toBe(10_000);
  });
});
