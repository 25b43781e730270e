import { baseEnv, loadEnv } from '@elevens/config';
import { listModelRuns } from '@elevens/db';
import { type ModelLine, ModelStore } from '@elevens/redis-stores';
import { z } from 'zod';
import { openBatchInfra, requireRedis, requireServices } from '../infra';
import { UserError } from '../run';

const ModelEnv = z.object({
  DATABASE_URL: baseEnv.DATABASE_URL,
  REDIS_URL: baseEnv.REDIS_URL,
  REDIS_CLUSTER_NODES: baseEnv.REDIS_CLUSTER_NODES,
  REDIS_KEY_PREFIX: baseEnv.REDIS_KEY_PREFIX,
});

/**
 * The stores, checked first so one that does not answer is named in one line: both for `list`, Redis alone for
 * `rollback` (it touches no table, so it works while Postgres is down).
 */
async function openModelInfra(stores: 'postgres and redis' | 'redis') {
  const config = loadEnv(ModelEnv, process.env, 'model');
  await (stores === 'redis' ? requireRedis(config) : requireServices(config));
  return openBatchInfra(config);
}

/** The line `--model` names (the default line without it); a bad name is the user's error. */
function lineOf(store: ModelStore, name: string | undefined): ModelLine {
  try {
    return store.line(name);
  } catch (error) {
    throw new UserError((error as Error).message);
  }
}

/** `elevens model list`. */
export async function modelListCommand(flags: { json?: boolean; model?: string }) {
  const infra = await openModelInfra('postgres and redis');
  try {
    const store = new ModelStore(infra.redis, infra.keys);
    const names = flags.model === undefined ? await store.lines() : [lineOf(store, flags.model).name];
    const lines: Record<string, Awaited<ReturnType<ModelLine['versions']>>> = {};
    for (const name of names) lines[name] = await store.line(name).versions();
    // Runs of this key prefix (and of --model's line): other prefixes' lines may share the database.
    const runs = await listModelRuns(infra.pool, 10, {
      keyPrefix: infra.keys.prefix,
      ...(flags.model === undefined ? {} : { modelLine: names[0]! }),
    });
    if (flags.json) {
      console.log(JSON.stringify({ lines, runs }, null, 2));
      return;
    }
    if (Object.values(lines).every((versions) => versions.length === 0))
      console.log('no model version in Redis');
    for (const [name, versions] of Object.entries(lines)) {
      if (versions.length > 0) console.log(`model line ${name}:`);
      for (const v of versions)
        console.log(
          `${v.state === 'current' ? '*' : ' '} ${v.version}  ${v.state.padEnd(10)} ${new Date(v.at).toISOString()}  ` +
            `${v.algorithm ?? '?'}  ${v.items ?? '?'} items`,
        );
    }
    if (runs.length > 0) console.log('\nrecent runs:');
    for (const r of runs)
      console.log(
        `  ${r.version}  ${r.status.padEnd(9)} line ${r.modelLine ?? '?'}  ${r.algorithm}  ${r.startedAt}` +
          `${r.error ? `  error: ${r.error}` : ''}`,
      );
  } finally {
    await infra.close();
  }
}

/** `elevens model rollback`. */
export async function modelRollbackCommand(flags: { model?: string }) {
  const infra = await openModelInfra('redis');
  try {
    const line = lineOf(new ModelStore(infra.redis, infra.keys), flags.model);
    const { retired, restored } = await line.rollback().catch((error: Error) => {
      throw new UserError(error.message);
    });
    console.log(`serving ${restored}; retired ${retired}`);
  } finally {
    await infra.close();
  }
}
