import { buildApiApp, loadApiConfig } from '@elevens/api';
import { loadBuildConfig, runBuild } from '@elevens/build';
import { createApiKey, createPool, revokeApiKey } from '@elevens/db';
import { generateCatalog, generateEvents } from '@elevens/generator';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import type { Command } from 'commander';
import { migrateDatabase, openBatchInfra, requireServices } from '../infra';
import { action, parseInteger } from '../run';

interface DemoFlags {
  once?: boolean;
  users: number;
  items: number;
  events: number;
  seed: number;
  apiPort: number;
  ingestPort: number;
}

async function postJson(
  url: string,
  method: 'POST' | 'PUT',
  body: unknown,
  headers: Record<string, string>,
): Promise<unknown> {
  const response = await fetch(url, {
    method,
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${url} answered ${response.status}: ${JSON.stringify(json)}`);
  return json;
}

/** Sends a stream in batches with a few requests in flight, as a storefront back end would. */
async function sendInBatches<T>(
  items: Iterable<T>,
  batchSize: number,
  inFlight: number,
  send: (batch: T[]) => Promise<void>,
) {
  const pending = new Set<Promise<void>>();
  let batch: T[] = [];
  const flush = async () => {
    const p = send(batch).finally(() => pending.delete(p));
    batch = [];
    pending.add(p);
    if (pending.size >= inFlight) await Promise.race(pending);
  };
  for (const item of items) {
    batch.push(item);
    if (batch.length >= batchSize) await flush();
  }
  if (batch.length > 0) await flush();
  await Promise.all(pending);
}

export function registerDemo(program: Command) {
  program
    .command('demo')
    .description(
      'migrate, generate data, ingest it over HTTP, build a model, serve it and print recommendations',
    )
    .option('--once', 'exit after printing instead of serving until Ctrl-C')
    .option('--users <n>', 'synthetic users', parseInteger('--users'), 2_000)
    .option('--items <n>', 'synthetic items', parseInteger('--items'), 1_000)
    .option('--events <n>', 'synthetic events', parseInteger('--events'), 60_000)
    .option('--seed <n>', 'generator seed', parseInteger('--seed'), 11)
    .option('--api-port <port>', 'API port', parseInteger('--api-port'), 3000)
    .option('--ingest-port <port>', 'ingest port', parseInteger('--ingest-port'), 3001)
    .action(
      action(async (flags: DemoFlags) => {
        const env = { LOG_LEVEL: 'warn', ...process.env };
        const ingestConfig = loadIngestConfig({ ...env, PORT: String(flags.ingestPort) });
        const apiConfig = loadApiConfig({ ...env, PORT: String(flags.apiPort) });
        const buildConfig = loadBuildConfig(env);
        const say = (line: string) => console.log(`elevens demo: ${line}`);

        await requireServices(ingestConfig.DATABASE_URL, ingestConfig.REDIS_URL);
        const applied = await migrateDatabase(ingestConfig.DATABASE_URL, () => {});
        say(applied.length ? `migrated (${applied.join(', ')})` : 'database is up to date');

        // The services require API keys: the demo makes one for itself, and revokes it when it exits.
        const keyPool = createPool(ingestConfig.DATABASE_URL, { max: 1, applicationName: 'elevens-demo' });
        const demoKey = await createApiKey(keyPool, {
          name: 'demo',
          scopes: ['events:write', 'recommendations:read'],
        });
        const auth = { authorization: `Bearer ${demoKey.secret}` };
        const revokeDemoKey = async () => {
          await revokeApiKey(keyPool, demoKey.id);
          await keyPool.end();
        };
        say(`created API key ${demoKey.id} (events:write, recommendations:read) for this run`);

        const ingest = await buildIngestApp({ config: ingestConfig });
        const ingestUrl = await ingest.listen({ host: '127.0.0.1', port: flags.ingestPort });
        say(`ingest listening on ${ingestUrl}`);

        const generator = { users: flags.users, items: flags.items, events: flags.events, seed: flags.seed };
        let upserted = 0;
        await sendInBatches(generateCatalog(generator), 1000, 2, async (items) => {
          await postJson(`${ingestUrl}/v1/items`, 'PUT', { items }, auth);
          upserted += items.length;
        });
        let accepted = 0;
        let duplicates = 0;
        const started = performance.now();
        await sendInBatches(generateEvents(generator), 500, 4, async (events) => {
          const reply = (await postJson(`${ingestUrl}/v1/events`, 'POST', { events }, auth)) as {
            accepted: number;
            duplicates: number;
          };
          accepted += reply.accepted;
          duplicates += reply.duplicates;
        });
        const seconds = (performance.now() - started) / 1000;
        say(
          `catalog: ${upserted} items; events: ${accepted} accepted, ${duplicates} already stored ` +
            `(${Math.round((accepted + duplicates) / seconds)} events/s through the ingest API)`,
        );

        const infra = openBatchInfra(buildConfig);
        try {
          const report = await runBuild({ ...infra, log: () => {} }, buildConfig);
          say(
            `built model ${report.version} (${report.algorithm}) from ${report.events} events of ${report.users} users ` +
              `on ${report.items} items in ${Object.values(report.phases)
                .reduce((a, b) => a + b, 0)
                .toFixed(1)}s`,
          );
        } finally {
          await infra.close();
        }

        const api = await buildApiApp({ config: apiConfig });
        const apiUrl = await api.listen({ host: '127.0.0.1', port: flags.apiPort });
        await api.model.refresh();
        say(`api listening on ${apiUrl}`);

        for (const userId of ['u000001', 'u000002', 'u000003', 'someone-new']) {
          const response = await fetch(
            `${apiUrl}/v1/recommendations?userId=${encodeURIComponent(userId)}&limit=5`,
            { headers: auth },
          );
          const body = (await response.json()) as {
            personalized: boolean;
            items: { itemId: string; score: number; source: string; because?: string[] }[];
          };
          say(
            `GET /v1/recommendations?userId=${userId}&limit=5 → ${body.personalized ? 'personalized' : 'fallback'}`,
          );
          for (const item of body.items) {
            const because = item.because?.length ? ` because of ${item.because.join(', ')}` : '';
            console.log(`    ${item.itemId}  ${item.score.toPrecision(3)}  ${item.source}${because}`);
          }
        }

        if (flags.once) {
          await Promise.all([api.close(), ingest.close()]);
          await revokeDemoKey();
          return;
        }
        say(
          `serving until Ctrl-C: curl -H 'authorization: Bearer ${demoKey.secret}' '${apiUrl}/v1/recommendations?userId=u000001'`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await Promise.all([api.close(), ingest.close()]);
        await revokeDemoKey();
      }),
    );
}
