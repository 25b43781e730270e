import { createKeys, createRedis, deleteKeysWithPrefix } from '@elevens/cache';
import { createPool } from '@elevens/db';
import { loadBuildConfig, runBuild } from '@elevens/build';
const env = { ...process.env, DATABASE_URL: 'postgres://root@127.0.0.1:5432/elevens_bench_build', REDIS_KEY_PREFIX: 'prof:', BUILD_MAX_ITEMS_PER_USER: '100000000', BUILD_MAX_USERS_PER_ITEM: '100000000' };
const config = loadBuildConfig(env);
const pool = createPool(config.DATABASE_URL); const redis = createRedis(config.REDIS_URL);
const r = await runBuild({ pool, redis, keys: createKeys('prof:'), log: () => {} }, config);
console.log(r.events, JSON.stringify(r.phases), Math.round(r.peakRssBytes/2**20));
await deleteKeysWithPrefix(redis, 'prof:'); redis.disconnect(); await pool.end();
