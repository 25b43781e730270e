import { loadIngestConfig } from '@elevens/ingest';
import { describe, expect, it } from 'vitest';

/**
 * Each of ingest's concurrent group writes holds a Postgres pool connection: with INGEST_WRITE_CONCURRENCY at or
 * above PG_POOL_SIZE a burst of events took every connection, and reads, the attribution worker and the readiness
 * check waited behind the writes. Ingest refuses the pair at start-up with one line.
 */
const failure = (env: NodeJS.ProcessEnv): string => {
  try {
    loadIngestConfig(env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
};

describe('INGEST_WRITE_CONCURRENCY against PG_POOL_SIZE', () => {
  it.each([
    [{ INGEST_WRITE_CONCURRENCY: '10', PG_POOL_SIZE: '10' }, 'INGEST_WRITE_CONCURRENCY="10"'],
    [{ INGEST_WRITE_CONCURRENCY: '20' }, 'INGEST_WRITE_CONCURRENCY="20"'],
    [{ PG_POOL_SIZE: '4' }, 'INGEST_WRITE_CONCURRENCY'],
  ])('refuses %j with one line naming both', (env, named) => {
    const message = failure(env);
    expect(message).toMatch(/^elevens ingest: invalid environment: [^\n]+$/);
    expect(message).toContain(named);
    expect(message).toContain('PG_POOL_SIZE');
  });

  it('compares only valid values: a refused PG_POOL_SIZE is named alone', () => {
    expect(failure({ PG_POOL_SIZE: '0' })).toBe(
      'elevens ingest: invalid environment: PG_POOL_SIZE="0": Too small: expected number to be >=1',
    );
    expect(failure({ PG_POOL_SIZE: ' ' })).toBe(
      'elevens ingest: invalid environment: PG_POOL_SIZE=" ": is empty; give a number or unset it',
    );
  });

  it('takes a concurrency below the pool size', () => {
    expect(loadIngestConfig({})).toMatchObject({ INGEST_WRITE_CONCURRENCY: 4, PG_POOL_SIZE: 10 });
    expect(loadIngestConfig({ INGEST_WRITE_CONCURRENCY: '9', PG_POOL_SIZE: '10' })).toMatchObject({
      INGEST_WRITE_CONCURRENCY: 9,
    });
    expect(loadIngestConfig({ INGEST_WRITE_CONCURRENCY: '1', PG_POOL_SIZE: '2' })).toMatchObject({
      INGEST_WRITE_CONCURRENCY: 1,
    });
  });
});
