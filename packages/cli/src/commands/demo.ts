import { constants as osConstants } from 'node:os';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { Duration, loadEnv, MAX_TIMER_MS, PositiveMilliseconds } from '@elevens/config';
import { createApiKey, createPool, revokeApiKey } from '@elevens/db';
import { ensureDatabase, migrate } from '@elevens/db/migrate';
import {
  type GeneratedEvent,
  type GeneratorOptions,
  generateCatalog,
  generateCategories,
  generateEvents,
  resolveGeneratorOptions,
} from '@elevens/generator';
import { listenOrExplain } from '@elevens/http';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { type BuildReport, loadBuildConfig } from '@elevens/trainer';
import cliProgress from 'cli-progress';
import { z } from 'zod';
import { requireServices } from '../infra';
import { sendInBatches } from '../send-in-batches';
import { buildOrEnd, buildProgressBar } from './build';

export interface DemoFlags {
  once?: boolean;
  users: number;
  items: number;
  events: number;
  seed: number;
  apiPort: number;
  ingestPort: number;
}

interface RecommendationsAnswer {
  personalized: boolean;
  items: { itemId: string; score: number; source: string; because?: string[] }[];
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

interface StepProgress {
  advance(count: number): void;
  stop(): void;
}

/** A bar on stderr for a step counted in units; nothing when stderr is no terminal (logs, tests). */
function stepProgress(label: string, total: number, unit: string): StepProgress {
  if (process.stderr.isTTY !== true) return { advance() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} ${unit} | {eta_formatted} left`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return { advance: (count) => bar.increment(count), stop: () => bar.stop() };
}

/** The demo's own variables. */
export const DemoEnv = z.object({
  /**
   * How long a query of the demo's API key (its creation, its revocation) may wait for Postgres: past it the demo
   * gives up on a Postgres that stopped answering, and says so, instead of holding its exit for good.
   */
  DEMO_KEY_QUERY_TIMEOUT: Duration.pipe(PositiveMilliseconds)
    .pipe(z.number().max(MAX_TIMER_MS))
    .default(5_000),
});

/** The demo's own variables of `env`; a bad one is refused in one line, as the services' are. */
export const loadDemoConfig = (env: NodeJS.ProcessEnv) => loadEnv(DemoEnv, env, 'demo');

/** Per user, what picking a returning shopper to show needs. */
interface ShopperActivity {
  events: number;
  purchases: number;
  lastMs: number;
}

/** Events of the returning shopper shown: enough history for reasons that read well, yet a typical one. */
const SHOWN_SHOPPER_EVENTS = { min: 8, max: 60 };

/** The buyer with a typical history seen last (else the busiest user): a returning shopper. */
function pickReturningShopper(activity: Map<string, ShopperActivity>): string | undefined {
  const users = [...activity];
  const typical = users.filter(
    ([, { events, purchases }]) =>
      purchases > 0 && events >= SHOWN_SHOPPER_EVENTS.min && events <= SHOWN_SHOPPER_EVENTS.max,
  );
  if (typical.length > 0) return typical.reduce((a, b) => (b[1].lastMs > a[1].lastMs ? b : a))[0];
  return users.length > 0 ? users.reduce((a, b) => (b[1].events > a[1].events ? b : a))[0] : undefined;
}

/** The last `count` distinct items of a time-ordered history, newest first. */
function lastDistinctItems(events: readonly GeneratedEvent[], count: number): string[] {
  const items: string[] = [];
  for (let i = events.length - 1; i >= 0 && items.length < count; i--) {
    const itemId = events[i]!.itemId;
    if (!items.includes(itemId)) items.push(itemId);
  }
  return items;
}

interface ShownItem {
  title: string;
  category: string;
}

/** Rows of cells as columns padded to their widest cell, each row indented. */
function columns(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((row) => row[c]!.length))) ?? [];
  return rows.map((row) => `    ${row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ')}`.trimEnd());
}

/** `elevens demo`. */
export async function demoCommand(flags: DemoFlags) {
  // The build and both services share this process's event loop: the build's minutes of work would read as
  // overload to the services' load shedders, which then refused the demo's first requests with 503.
  const env = {
    LOG_LEVEL: 'warn',
    ATTRIBUTION_ENABLED: 'true',
    PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
    ...process.env,
  };
  const ingestConfig = loadIngestConfig({ ...env, PORT: String(flags.ingestPort) });
  const apiConfig = loadApiConfig({ ...env, PORT: String(flags.apiPort) });
  const buildConfig = loadBuildConfig(env);
  const demoConfig = loadDemoConfig(env);
  const say = (line: string) => console.log(`elevens demo: ${line}`);

  await requireServices(ingestConfig, { createDatabase: ensureDatabase });
  const applied = await migrate(ingestConfig.DATABASE_URL);
  say(applied.length ? `migrated (${applied.join(', ')})` : 'database is up to date');

  // The services require API keys: the demo makes one for itself, and revokes it when it exits.
  // Its queries are bounded, so a Postgres that stopped answering cannot hold the demo's exit for ever.
  const keyPool = createPool(ingestConfig.DATABASE_URL, {
    max: 1,
    applicationName: 'elevens-demo',
    queryTimeoutMs: demoConfig.DEMO_KEY_QUERY_TIMEOUT,
  });
  const keyCreated = createApiKey(keyPool, {
    name: 'demo',
    scopes: ['events:write', 'recommendations:read'],
  });
  // Until the demo serves, a signal would end the process before the `finally` below revokes the key: it
  // revokes it on its way out instead (a second signal does not wait). Serving, a signal ends the wait.
  let onSignal = (signal: NodeJS.Signals) => {
    const exitCode = 128 + osConstants.signals[signal];
    onSignal = () => process.exit(exitCode);
    void keyCreated
      .then((key) => revokeApiKey(keyPool, key.id))
      .catch((error: unknown) => console.error(`elevens demo: could not revoke its API key: ${error}`))
      .finally(() => process.exit(exitCode));
  };
  const signalled = (signal: NodeJS.Signals) => onSignal(signal);
  process.on('SIGINT', signalled);
  process.on('SIGTERM', signalled);
  const demoKey = await keyCreated;
  const auth = { authorization: `Bearer ${demoKey.secret}` };
  say(`created API key ${demoKey.id} (events:write, recommendations:read) for this run`);
  try {
    // Both ports are taken before any work, so a busy one is reported in one line at once.
    const ingest = await buildIngestApp({ config: ingestConfig });
    const ingestUrl = await listenOrExplain(ingest, {
      name: 'demo',
      host: '127.0.0.1',
      port: flags.ingestPort,
      portSetting: '--ingest-port',
    });
    const api = await buildApiApp({ config: apiConfig });
    const apiUrl = await listenOrExplain(api, {
      name: 'demo',
      host: '127.0.0.1',
      port: flags.apiPort,
      portSetting: '--api-port',
    }).catch(async (error: unknown) => {
      await ingest.close();
      throw error;
    });
    say(`ingest listening on ${ingestUrl}`);

    const shop = { users: flags.users, items: flags.items, events: flags.events, seed: flags.seed };
    // The window is fixed once, so the second pass over the events below yields the same stream.
    const generator: GeneratorOptions = { ...shop, startMs: resolveGeneratorOptions(shop).startMs };
    const categories = generateCategories(generator);
    const categoryNames = new Map(categories.map((c) => [c.categoryId, c.name]));
    const shown = new Map<string, ShownItem>();
    const catalogProgress = stepProgress('catalog', flags.items, 'items');
    try {
      await sendInBatches(generateCatalog(generator), 1000, 2, async (items) => {
        await postJson(`${ingestUrl}/v1/items`, 'PUT', { items }, auth);
        for (const item of items) {
          shown.set(item.itemId, { title: item.title, category: categoryNames.get(item.categoryId)! });
        }
        catalogProgress.advance(items.length);
      });
    } finally {
      catalogProgress.stop();
    }
    const categoryList = categories.slice(0, 6).map((c) => c.name);
    if (categories.length > categoryList.length) categoryList.push('…');
    say(`catalog: ${shown.size} items in ${categories.length} categories (${categoryList.join(', ')})`);

    const activity = new Map<string, ShopperActivity>();
    const noteActivity = function* (events: Iterable<GeneratedEvent>) {
      for (const event of events) {
        const user = activity.get(event.userId) ?? { events: 0, purchases: 0, lastMs: 0 };
        user.events++;
        if (event.type === 'purchase') user.purchases++;
        user.lastMs = event.timestamp;
        activity.set(event.userId, user);
        yield event;
      }
    };
    let accepted = 0;
    let duplicates = 0;
    const started = performance.now();
    const eventProgress = stepProgress('events', flags.events, 'events');
    try {
      await sendInBatches(noteActivity(generateEvents(generator)), 500, 4, async (events) => {
        const reply = (await postJson(`${ingestUrl}/v1/events`, 'POST', { events }, auth)) as {
          accepted: number;
          duplicates: number;
        };
        accepted += reply.accepted;
        duplicates += reply.duplicates;
        eventProgress.advance(events.length);
      });
    } finally {
      eventProgress.stop();
    }
    const seconds = (performance.now() - started) / 1000;
    say(
      `events: ${accepted} accepted, ${duplicates} already stored ` +
        `(${Math.round((accepted + duplicates) / seconds)} events/s through the ingest API)`,
    );

    const buildProgress = process.stderr.isTTY === true ? buildProgressBar() : null;
    let report: BuildReport;
    try {
      report = await buildOrEnd(buildConfig, {
        log: () => {},
        onProgress: (progress) => buildProgress?.update(progress),
      });
    } finally {
      buildProgress?.stop();
    }
    say(
      `built model ${report.version} (${report.algorithm}) from ${report.events} events of ${report.users} users ` +
        `on ${report.items} items in ${Object.values(report.phases)
          .reduce((a, b) => a + b, 0)
          .toFixed(1)}s`,
    );

    await api.model.refresh();
    say(`api listening on ${apiUrl}`);

    const recommend = async (userId: string) => {
      const path = `/v1/recommendations?userId=${encodeURIComponent(userId)}&limit=5`;
      const response = await fetch(`${apiUrl}${path}`, { headers: auth });
      const json = await response.json();
      if (!response.ok) throw new Error(`GET ${path} answered ${response.status}: ${JSON.stringify(json)}`);
      return { path, answer: json as RecommendationsAnswer };
    };
    const shownItem = (itemId: string): ShownItem => shown.get(itemId) ?? { title: itemId, category: '' };

    const shopperId = pickReturningShopper(activity);
    if (shopperId !== undefined) {
      const history: GeneratedEvent[] = [];
      for (const event of generateEvents(generator)) if (event.userId === shopperId) history.push(event);
      const bought = new Set(history.filter((e) => e.type === 'purchase').map((e) => e.itemId));
      // Every cart, save and purchase follows a view of its item: any item of the history was viewed.
      const action = (itemId: string) => (bought.has(itemId) ? 'bought' : 'viewed');
      const { events, purchases } = activity.get(shopperId)!;
      console.log('');
      const purchaseCount = `${purchases} purchase${purchases === 1 ? '' : 's'}`;
      say(`a returning shopper, ${shopperId} (${events} events, ${purchaseCount}), most recently:`);
      const recent = lastDistinctItems(history, 3).map((itemId) => {
        const { title, category } = shownItem(itemId);
        return [action(itemId), title, category];
      });
      for (const line of columns(recent)) console.log(line);

      const { path, answer } = await recommend(shopperId);
      say(`GET ${path} → ${answer.personalized ? 'personalized' : 'fallback'}`);
      const rows = answer.items.map((item, rank) => {
        const { title, category } = shownItem(item.itemId);
        const becauseId = item.because?.[0];
        const reason =
          becauseId === undefined
            ? item.source
            : `because you ${action(becauseId)} ${shownItem(becauseId).title}`;
        return [`${rank + 1}.`, title, category, item.score.toPrecision(3), reason];
      });
      for (const line of columns(rows)) console.log(line);
    }

    const visitorId = 'first-visit';
    const { path, answer } = await recommend(visitorId);
    const sources = [...new Set(answer.items.map((item) => item.source))].join(', ');
    console.log('');
    say('a visitor with no history yet (cold start):');
    say(`GET ${path} → ${answer.personalized ? 'personalized' : `fallback (${sources})`}`);
    const rows = answer.items.map((item, rank) => {
      const { title, category } = shownItem(item.itemId);
      return [`${rank + 1}.`, title, category, item.score.toPrecision(3), item.source];
    });
    for (const line of columns(rows)) console.log(line);

    if (flags.once) {
      await Promise.all([api.close(), ingest.close()]);
      return;
    }
    console.log('');
    const example = `${apiUrl}/v1/recommendations?userId=${shopperId ?? visitorId}`;
    say(`serving until Ctrl-C: curl -H 'authorization: Bearer ${demoKey.secret}' '${example}'`);
    await new Promise<void>((resolve) => {
      onSignal = () => resolve();
    });
    await Promise.all([api.close(), ingest.close()]);
  } finally {
    process.off('SIGINT', signalled);
    process.off('SIGTERM', signalled);
    // A revocation that fails is said beside what ended the demo, never in its place.
    const revokeError = await revokeApiKey(keyPool, demoKey.id).then(
      () => null,
      (error: unknown) => error as Error,
    );
    await keyPool.end();
    if (revokeError !== null) {
      console.error(
        `elevens demo: could not revoke its API key ${demoKey.id} (${revokeError.message}): ` +
          `run elevens keys revoke ${demoKey.id}`,
      );
      process.exitCode = 1;
    }
  }
}
