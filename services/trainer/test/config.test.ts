import { DEFAULT_TYPE_WEIGHTS } from '@elevens/algorithms';
import { ConfigError } from '@elevens/config';
import { describe, expect, it } from 'vitest';
import { buildEnvFromFlags, IdIndex, loadBuildConfig, parseEvery, parseTypeWeights } from '../src';

describe('build settings', () => {
  it('defaults to cosine over 365 days, view 1 / fav 2 / cart 3 / purchase 5, 365-day half-life, caps 500 and 1000', () => {
    const config = loadBuildConfig({});
    expect(config).toMatchObject({
      BUILD_ALGORITHM: 'cosine',
      BUILD_WINDOW: 365 * 86_400_000,
      BUILD_HALF_LIFE_DAYS: 365,
      BUILD_NEIGHBORS: 50,
      BUILD_MAX_ITEMS_PER_USER: 500,
      BUILD_MAX_USERS_PER_ITEM: 1000,
    });
    expect(config.BUILD_TYPE_WEIGHTS).toEqual(DEFAULT_TYPE_WEIGHTS);
    expect(config.BUILD_TYPE_WEIGHTS).toMatchObject({ view: 1, fav: 2, cart: 3, purchase: 5 });
  });

  it('lets flags override the environment, through the same validation', () => {
    const env = { BUILD_ALGORITHM: 'jaccard', BUILD_NEIGHBORS: '20', BUILD_HALF_LIFE_DAYS: '7' };
    const config = loadBuildConfig(
      buildEnvFromFlags(env, {
        algorithm: 'swing',
        window: '30d',
        halfLife: '14',
        k: '50',
        weights: 'view=0.5,purchase=10',
        minSupport: '3',
        maxItemsPerUser: '200',
        maxUsersPerItem: '300',
      }),
    );
    expect(config).toMatchObject({
      BUILD_ALGORITHM: 'swing',
      BUILD_WINDOW: 30 * 86_400_000,
      BUILD_HALF_LIFE_DAYS: 14,
      BUILD_NEIGHBORS: 50,
      BUILD_MIN_SUPPORT: 3,
      BUILD_MAX_ITEMS_PER_USER: 200,
      BUILD_MAX_USERS_PER_ITEM: 300,
    });
    expect(config.BUILD_TYPE_WEIGHTS).toMatchObject({ view: 0.5, fav: 2, cart: 3, purchase: 10 });
    // Flags left out keep the environment's value.
    expect(loadBuildConfig(buildEnvFromFlags(env, {})).BUILD_NEIGHBORS).toBe(20);
  });

  it('maps --force to BUILD_GATE_FORCE=true; without it the environment decides, default off', () => {
    const force = (env: NodeJS.ProcessEnv, flags: Parameters<typeof buildEnvFromFlags>[1]) =>
      loadBuildConfig(buildEnvFromFlags(env, flags)).BUILD_GATE_FORCE;
    expect(buildEnvFromFlags({}, { force: true }).BUILD_GATE_FORCE).toBe('true');
    expect(force({}, { force: true })).toBe(true);
    expect(force({ BUILD_GATE_FORCE: 'false' }, { force: true })).toBe(true);
    expect(force({}, {})).toBe(false);
    expect(force({ BUILD_GATE_FORCE: 'true' }, {})).toBe(true);
  });

  it('publishes to the default model line unless --model names one; a line named for an algorithm builds it', () => {
    const env = { BUILD_ALGORITHM: 'cosine' };
    expect(loadBuildConfig(buildEnvFromFlags(env, {})).BUILD_MODEL).toBe('default');
    expect(loadBuildConfig(buildEnvFromFlags(env, { model: 'ease' }))).toMatchObject({
      BUILD_MODEL: 'ease',
      BUILD_ALGORITHM: 'ease',
    });
    expect(loadBuildConfig(buildEnvFromFlags(env, { model: 'candidate' }))).toMatchObject({
      BUILD_MODEL: 'candidate',
      BUILD_ALGORITHM: 'cosine',
    });
    expect(() => loadBuildConfig(buildEnvFromFlags(env, { model: 'ease', algorithm: 'swing' }))).toThrow(
      /BUILD_MODEL/,
    );
    expect(() => loadBuildConfig(buildEnvFromFlags(env, { model: 'Two Words' }))).toThrow(/BUILD_MODEL/);
  });

  it('rejects bad values with the variable named', () => {
    const bad = (flags: Parameters<typeof buildEnvFromFlags>[1]) => () =>
      loadBuildConfig(buildEnvFromFlags({}, flags));
    expect(bad({ algorithm: 'pagerank' })).toThrow(ConfigError);
    expect(bad({ window: '30 days' })).toThrow(/BUILD_WINDOW/);
    expect(bad({ halfLife: '-1' })).toThrow(/BUILD_HALF_LIFE_DAYS/);
    expect(bad({ k: '0' })).toThrow(/BUILD_NEIGHBORS/);
    expect(bad({ weights: 'views=1' })).toThrow(/BUILD_TYPE_WEIGHTS.*not a type weight/);
    expect(bad({ maxUsersPerItem: '1.5' })).toThrow(/BUILD_MAX_USERS_PER_ITEM/);
  });

  it('rejects settings no build can run on: an empty window, a trending baseline not past the recent hours, a swing sample over its limit', () => {
    const bad = (env: NodeJS.ProcessEnv) => () => loadBuildConfig(env);
    expect(bad({ BUILD_WINDOW: '0d' })).toThrow(/BUILD_WINDOW/);
    expect(bad({ BUILD_TRENDING_RECENT_HOURS: '72' })).toThrow(/BUILD_TRENDING_BASELINE_HOURS/);
    expect(bad({ BUILD_TRENDING_RECENT_HOURS: '24', BUILD_TRENDING_BASELINE_HOURS: '12' })).toThrow(
      /BUILD_TRENDING_BASELINE_HOURS/,
    );
    expect(bad({ BUILD_SWING_MAX_USERS_PER_ITEM: '20000' })).toThrow(/BUILD_SWING_MAX_USERS_PER_ITEM/);
    expect(
      loadBuildConfig({ BUILD_TRENDING_RECENT_HOURS: '24', BUILD_TRENDING_BASELINE_HOURS: '25' }),
    ).toMatchObject({ BUILD_TRENDING_RECENT_HOURS: 24, BUILD_TRENDING_BASELINE_HOURS: 25 });
    expect(loadBuildConfig({ BUILD_SWING_MAX_USERS_PER_ITEM: '16384' }).BUILD_SWING_MAX_USERS_PER_ITEM).toBe(
      16384,
    );
  });

  it('refuses a window shorter than the trending baseline: the baseline would miss the events before the window', () => {
    const load = (env: NodeJS.ProcessEnv) => () => loadBuildConfig(env);
    expect(load({ BUILD_WINDOW: '2d' })).toThrow(
      /BUILD_WINDOW="2d": must cover BUILD_TRENDING_BASELINE_HOURS \(72 hours\)/,
    );
    expect(load(buildEnvFromFlags({ BUILD_TRENDING_BASELINE_HOURS: '48' }, { window: '47h' }))).toThrow(
      /BUILD_WINDOW/,
    );
    expect(loadBuildConfig({ BUILD_WINDOW: '3d' }).BUILD_WINDOW).toBe(72 * 3_600_000);
    expect(loadBuildConfig({ BUILD_WINDOW: '1d', BUILD_TRENDING_BASELINE_HOURS: '24' }).BUILD_WINDOW).toBe(
      86_400_000,
    );
  });

  it('parses type weights, keeping the defaults of types left out', () => {
    expect(parseTypeWeights('cart=4, fav=0')).toEqual({ ...DEFAULT_TYPE_WEIGHTS, cart: 4, fav: 0 });
    expect(parseTypeWeights('')).toEqual(DEFAULT_TYPE_WEIGHTS);
    expect(() => parseTypeWeights('view=-1')).toThrow(/not a type weight/);
  });

  it('parses --every as an interval, none when absent, and refuses sub-second intervals', () => {
    expect(parseEvery('15m')).toBe(900_000);
    expect(parseEvery('2h')).toBe(7_200_000);
    expect(parseEvery(undefined)).toBeNull();
    expect(() => parseEvery('500ms')).toThrow(/at least 1s/);
    expect(() => parseEvery('soon')).toThrow(/not a duration/);
  });
});

describe('IdIndex', () => {
  it('gives dense indexes in first-seen order, from strings or from bytes in place, across rehashing', () => {
    const index = new IdIndex();
    const ids = Array.from({ length: 5_000 }, (_, i) => `user-${(i * 7919) % 5_000}-ü`);
    expect(ids.map((id) => index.indexOf(id))).toEqual(ids.map((_, i) => i));
    const stream = Buffer.from(`xx${ids[1234]}yy`, 'utf8');
    expect(index.indexOfBytes(stream, 2, stream.length - 2)).toBe(1234);
    expect(index.indexOf(ids[1234]!)).toBe(1234);
    expect(index.indexOf(ids[17]!)).toBe(17);
    expect(index.get(ids[4999]!)).toBe(4999);
    expect(index.get('nobody')).toBeUndefined();
    expect(index.size).toBe(5_000);
    expect(index.ids).toEqual(ids);
    expect(index.indexOf('')).toBe(5_000);
    expect(index.ids[5_000]).toBe('');
  });
});
