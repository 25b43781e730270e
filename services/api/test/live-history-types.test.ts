import { DEFAULT_HISTORY_TYPE_WEIGHTS } from '@elevens/recommender';
import { LIVE_HISTORY_TYPES } from '@elevens/redis-stores';
import { describe, expect, it } from 'vitest';

describe('the live history ingest keeps', () => {
  // A type the answers weigh but ingest leaves out would never reach them; one ingest keeps but the answers do not
  // weigh would crowd the history the api reads (impressions did: ten a shelf).
  it('holds exactly the event types the recommendations weigh', () => {
    const weighed = Object.entries(DEFAULT_HISTORY_TYPE_WEIGHTS)
      .filter(([, weight]) => weight > 0)
      .map(([type]) => type);
    expect([...LIVE_HISTORY_TYPES].sort()).toEqual(weighed.sort());
  });
});
