import { describe, expect, it } from 'vitest';
import { loadIngestConfig } from '../src/config';

const failure = (env: NodeJS.ProcessEnv): string => {
  try {
    loadIngestConfig(env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
};

describe('ingest configuration', () => {
  it('refuses a rate-limit window under one whole millisecond: its counters expired as they were made, so no limit was ever reached', () => {
    for (const window of ['0ms', '0.5ms'])
      expect(failure({ RATE_LIMIT_WINDOW: window })).toMatch(
        new RegExp(`^elevens ingest: invalid environment: RATE_LIMIT_WINDOW="${window}": [^\\n]+$`),
      );
    expect(loadIngestConfig({}).RATE_LIMIT_WINDOW).toBe(10_000);
    expect(loadIngestConfig({ RATE_LIMIT_WINDOW: '1m' }).RATE_LIMIT_WINDOW).toBe(60_000);
  });

  it('refuses a limit or port left empty rather than reading it as 0 (no limit, a random port)', () => {
    for (const name of [
      'RATE_LIMIT_EVENTS_WRITE',
      'PORT',
      'INGEST_PARTITIONS_AHEAD',
      'ATTRIBUTION_SAFETY_LAG_MS',
    ])
      expect(failure({ [name]: '' })).toBe(
        `elevens ingest: invalid environment: ${name}="": is empty; give a number or unset it`,
      );
  });
});
