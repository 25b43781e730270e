import { randomBytes } from 'node:crypto';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { dropDatabase, ensureDatabase, migrate } from '@elevens/db/migrate';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { servingSettingsFrom } from '@elevens/recommender';
import { createRedisClient, deleteKeysWithPrefix, redisConnectionOf } from '@elevens/redis-stores';
import {
  type Dataset,
  type EvaluationProtocol,
  type EvaluationSettings,
  loadBuildConfig,
  splitDataset,
} from '@elevens/trainer';
import { buildOrEnd } from './commands/build';
import {
  evaluateServed,
  postCatalog,
  postTrainEvents,
  type ServedEvaluationResult,
  waitForServedVersion,
} from './served-evaluation';

/** One api configuration to ask: a name for the table and the RECS_* it runs with. */
export interface ServingVariant {
  name: string;
  env: Record<string, string>;
}

export interface ServedRun {
  name: string;
  settings: EvaluationSettings;
  result: ServedEvaluationResult;
}

/**
 * The served path on a scratch stack of its own: a new database on DATABASE_URL's server and a new Redis key
 * prefix, an ingest and one api per variant in this process, listening on loopback ports. The split's catalog and
 * train events go in through ingest, one build runs on them (BUILD_* of `env`, BUILD_TIMEOUT included), then each
 * variant's api is asked for every evaluated user. Everything it made is dropped afterwards.
 */
export async function evaluateOnScratchStack(
  dataset: Dataset,
  protocol: EvaluationProtocol,
  variants: readonly ServingVariant[],
  env: NodeJS.ProcessEnv,
  settingsOf: (serving: ReturnType<typeof servingSettingsFrom>) => EvaluationSettings,
  log: (line: string) => void,
): Promise<ServedRun[]> {
  const suffix = randomBytes(4).toString('hex');
  const base = loadBuildConfig(env);
  const databaseUrl = new URL(base.DATABASE_URL);
  const databaseName = `elevens_evaluate_${suffix}`;
  databaseUrl.pathname = `/${databaseName}`;
  const scratch = {
    ...env,
    DATABASE_URL: databaseUrl.toString(),
    REDIS_KEY_PREFIX: `evaluate:${suffix}:`,
    AUTH_REQUIRED: 'false',
    LOG_LEVEL: 'warn',
  };
  const serverUrl = new URL(base.DATABASE_URL);
  serverUrl.pathname = '/postgres';
  await ensureDatabase(scratch.DATABASE_URL);
  await migrate(scratch.DATABASE_URL);
  const ingest = await buildIngestApp({ config: loadIngestConfig(scratch) });
  const runs: ServedRun[] = [];
  try {
    const ingestUrl = await ingest.listen({ host: '127.0.0.1', port: 0 });
    const split = splitDataset(dataset.events, protocol);
    await postCatalog(dataset.itemCategories, { apiUrl: '', ingestUrl });
    const posted = await postTrainEvents(split, { apiUrl: '', ingestUrl });
    log(`${dataset.name}: posted ${posted} train events through ingest`);
    const buildConfig = loadBuildConfig({ ...scratch, BUILD_GATE_FORCE: 'true' });
    const redis = createRedisClient(redisConnectionOf(buildConfig), { connectionName: 'elevens-evaluate' });
    try {
      const report = await buildOrEnd(buildConfig, { log: () => {} });
      log(`${dataset.name}: built ${report.version} (${report.algorithm}) from ${report.events} events`);
      for (const variant of variants) {
        const apiConfig = loadApiConfig({ ...scratch, ...variant.env, MODEL_POLL_MS: '100' });
        const api = await buildApiApp({ config: apiConfig });
        try {
          const apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
          const target = { apiUrl, ingestUrl };
          await waitForServedVersion(target, report.version);
          const settings = settingsOf(servingSettingsFrom(apiConfig));
          const result = await evaluateServed(split, dataset.itemCategories, settings, target);
          log(
            `${dataset.name}: ${variant.name}: served HR@10 ${result.served.hr10.toFixed(4)}, ` +
              `${result.identical} of ${result.served.users} lists identical to offline`,
          );
          runs.push({ name: variant.name, settings, result });
        } finally {
          await api.close();
        }
      }
    } finally {
      await deleteKeysWithPrefix(redis, scratch.REDIS_KEY_PREFIX);
      redis.disconnect();
    }
  } finally {
    await ingest.close();
    await dropDatabase(serverUrl.toString(), databaseName);
  }
  return runs;
}
