import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { EASE_MAX_ITEMS, type SimilarityAlgorithm, type SimilarityParams } from '@elevens/algorithms';
import { newestEventMs } from '@elevens/db';
import { type EvalSplit, formatMetricTable, type MetricTableRow } from '@elevens/evaluation';
import { generateCatalog, generateEvents } from '@elevens/generator';
import { type ServingSettings, servingSettingsFrom } from '@elevens/recommender';
import { LIVE_HISTORY_LENGTH } from '@elevens/redis-stores';
import {
  type BuildConfig,
  type BuildReport,
  buildEvaluationModel,
  type Dataset,
  type DatasetEvent,
  type DatasetName,
  DEFAULT_DATASET_FILES,
  defaultProtocol,
  type EvaluationProtocol,
  type EvaluationResult,
  type EvaluationSettings,
  evaluateModel,
  evaluationSettingsFrom,
  loadBuildConfig,
  loadMovielens,
  loadPostgresEvents,
  loadTaobao,
  splitDataset,
} from '@elevens/trainer';
import { requireServices } from '../infra';
import { openPostgres } from '../postgres';
import { UserError } from '../run';
import { evaluateServed, postTrainEvents, waitForServedVersion } from '../served-evaluation';
import { buildOrEnd, exitStatusFor, listenForInterrupt } from './build';
import { fileSize } from './import';

export interface EvaluateFlags {
  dataset: DatasetName;
  file?: string;
  maxLines?: number;
  window?: string;
  algorithm?: SimilarityAlgorithm;
  target: 'purchase' | 'any' | 'auto';
  protocol?: EvaluationProtocol['kind'];
  neighbors?: number;
  minSupport?: number;
  halfLifeDays?: number;
  alpha1?: number;
  alpha2?: number;
  beta?: number;
  factors?: number;
  iterations?: number;
  historyHalfLifeHours?: number;
  positionDecay?: number;
  sequenceShare?: number;
  maxAnchors?: number;
  historyLength?: number;
  report?: string;
  ratingsAsPurchases?: boolean;
  served?: string;
  ingest?: string;
  apiKey?: string;
}

/** Changes to the configured settings: one experiment. */
interface Variant {
  algorithm?: SimilarityAlgorithm;
  similarity?: Partial<SimilarityParams>;
  halfLifeDays?: number;
  serving?: Partial<Omit<ServingSettings, 'repurchasableCategories'>>;
}

function applyVariant(base: EvaluationSettings, variant: Variant): EvaluationSettings {
  return {
    interactions: {
      ...base.interactions,
      ...(variant.halfLifeDays === undefined ? {} : { halfLifeDays: variant.halfLifeDays }),
    },
    model: {
      ...base.model,
      ...(variant.algorithm === undefined ? {} : { algorithm: variant.algorithm }),
      similarity: { ...base.model.similarity, ...variant.similarity },
    },
    serving: { ...base.serving, ...variant.serving },
    windowMs: base.windowMs,
  };
}

function variantFromFlags(flags: EvaluateFlags): Variant {
  const similarity: Partial<SimilarityParams> = {};
  if (flags.neighbors !== undefined) similarity.k = flags.neighbors;
  if (flags.minSupport !== undefined) similarity.minSupport = flags.minSupport;
  if (flags.alpha1 !== undefined) similarity.alpha1 = flags.alpha1;
  if (flags.alpha2 !== undefined) similarity.alpha2 = flags.alpha2;
  if (flags.beta !== undefined) similarity.beta = flags.beta;
  if (flags.factors !== undefined) similarity.factors = flags.factors;
  if (flags.iterations !== undefined) similarity.iterations = flags.iterations;
  const serving: Variant['serving'] = {};
  if (flags.historyHalfLifeHours !== undefined) serving.halfLifeMs = flags.historyHalfLifeHours * 3_600_000;
  if (flags.positionDecay !== undefined) serving.positionDecay = flags.positionDecay;
  if (flags.sequenceShare !== undefined) serving.sequenceShare = flags.sequenceShare;
  if (flags.maxAnchors !== undefined) serving.maxAnchors = flags.maxAnchors;
  if (flags.historyLength !== undefined) serving.historyLength = flags.historyLength;
  return {
    ...(flags.algorithm === undefined ? {} : { algorithm: flags.algorithm }),
    ...(flags.halfLifeDays === undefined ? {} : { halfLifeDays: flags.halfLifeDays }),
    similarity,
    serving,
  };
}

/** A short description of a setting: the algorithm, then what differs from the configured defaults. */
function describe(settings: EvaluationSettings, base: EvaluationSettings): string {
  const parts: string[] = [settings.model.algorithm];
  const similarity = settings.model.similarity;
  for (const key of Object.keys(similarity) as (keyof SimilarityParams)[]) {
    if (similarity[key] !== base.model.similarity[key]) parts.push(`${key}=${similarity[key]}`);
  }
  if (settings.interactions.halfLifeDays !== base.interactions.halfLifeDays)
    parts.push(`build half-life ${settings.interactions.halfLifeDays}d`);
  if (settings.serving.halfLifeMs !== base.serving.halfLifeMs)
    parts.push(`history half-life ${settings.serving.halfLifeMs / 3_600_000}h`);
  if (settings.serving.positionDecay !== base.serving.positionDecay)
    parts.push(`position decay ${settings.serving.positionDecay}`);
  if (settings.serving.sequenceShare !== base.serving.sequenceShare)
    parts.push(`sequence share ${settings.serving.sequenceShare}`);
  if (settings.serving.maxAnchors !== base.serving.maxAnchors)
    parts.push(`anchors ${settings.serving.maxAnchors}`);
  if (settings.serving.historyLength !== base.serving.historyLength)
    parts.push(`history ${settings.serving.historyLength}`);
  return parts.join(', ');
}

async function loadDataset(flags: EvaluateFlags, buildConfig: BuildConfig): Promise<Dataset> {
  if (flags.dataset === 'postgres') {
    const pool = await openPostgres(buildConfig.DATABASE_URL);
    try {
      const newest = (await newestEventMs(pool)) ?? Date.now();
      return await loadPostgresEvents(pool, { fromMs: newest - buildConfig.BUILD_WINDOW, toMs: newest });
    } finally {
      await pool.end();
    }
  }
  const path = flags.file ?? DEFAULT_DATASET_FILES[flags.dataset];
  if (!existsSync(path)) throw new UserError(`${flags.dataset}: no file at ${path} (pass --file)`);
  fileSize(path);
  const options = {
    ...(flags.maxLines === undefined ? {} : { maxLines: flags.maxLines }),
    ...(flags.ratingsAsPurchases ? { ratingsAsPurchases: true } : {}),
  };
  return flags.dataset === 'movielens' ? loadMovielens(path, options) : loadTaobao(path, options);
}

function protocolFor(
  dataset: Dataset,
  flags: Pick<EvaluateFlags, 'protocol' | 'target'>,
): EvaluationProtocol {
  const kind = flags.protocol ?? (dataset.name === 'taobao' ? 'next-event' : 'leave-last-out');
  return kind === 'next-event' ? { kind, minEvents: 2 } : defaultProtocol(dataset, flags.target);
}

const describeProtocol = (p: EvaluationProtocol) =>
  p.kind === 'next-event'
    ? `next event (users with ≥ ${p.minEvents} events, target = the item of their last event, new to them)`
    : `temporal leave-last-out (users with ≥ ${p.minDistinctItems} distinct items, target = last new ${p.targetType ?? 'item of any event type'})`;

interface Evaluated {
  name: string;
  settings: EvaluationSettings;
  result: EvaluationResult;
  seconds: number;
}

/**
 * Runs each setting on one split. Settings that differ only in serving share one built model, built once;
 * results come back in the order given.
 */
function evaluateSplit(
  dataset: Dataset,
  split: EvalSplit<DatasetEvent>,
  runs: readonly { name: string; settings: EvaluationSettings }[],
  onDone: (run: Evaluated) => void,
): Evaluated[] {
  const groups = new Map<string, number[]>();
  runs.forEach(({ settings }, i) => {
    const key = JSON.stringify({ interactions: settings.interactions, model: settings.model });
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const results: Evaluated[] = [];
  for (const members of groups.values()) {
    const start = performance.now();
    const model = buildEvaluationModel(split.train, dataset.itemCategories, runs[members[0]!]!.settings);
    const buildSeconds = (performance.now() - start) / 1000;
    for (const i of members) {
      const { name, settings } = runs[i]!;
      const started = performance.now();
      const result = evaluateModel(model, split, settings.serving);
      const run = { name, settings, result, seconds: buildSeconds + (performance.now() - started) / 1000 };
      onDone(run);
      results[i] = run;
    }
  }
  return results;
}

const tableOf = (runs: readonly Evaluated[]): string => {
  const rows: MetricTableRow[] = [
    { name: 'popularity (baseline)', summary: runs[0]!.result.popularity },
    ...runs.map((run) => ({ name: run.name, summary: run.result.model })),
  ];
  return formatMetricTable(rows);
};

/** Serving settings that read a user's whole history, unweighted: the references' "whole history". */
const WHOLE_HISTORY: Variant['serving'] = {
  positionDecay: 1,
  sequenceShare: 0,
  halfLifeMs: 1e15,
  maxAnchors: 200,
  historyLength: 1000,
};

/** A row of the offline comparison: the variant, and a name where the description alone would not say why. */
interface GridRow {
  label?: string;
  variant: Variant;
  /** EASE^R holds an item × item matrix: only for catalogs up to EASE_MAX_ITEMS */
  smallCatalogOnly?: boolean;
}

/**
 * The settings compared in docs/evaluation.md: the references of issue #17 (computed by this code), the serving
 * weights around the default, and the other algorithms under the default serving.
 */
const REPORT_GRID: readonly GridRow[] = [
  { label: 'item-kNN cosine, whole history', variant: { algorithm: 'cosine', serving: WHOLE_HISTORY } },
  {
    label: 'EASE^R (λ 500), whole history',
    variant: { algorithm: 'ease', similarity: { k: 5000, minSupport: 1 }, serving: WHOLE_HISTORY },
    smallCatalogOnly: true,
  },
  {
    label: "last item's neighbours only",
    variant: { algorithm: 'cosine', serving: { maxAnchors: 1, sequenceShare: 1 } },
  },
  {
    label: 'item-kNN cosine, history by position (last 1, each earlier ½)',
    variant: { algorithm: 'cosine', serving: { positionDecay: 0.5, sequenceShare: 1, halfLifeMs: 1e15 } },
  },
  ...[0, 0.3, 0.7, 1].map((sequenceShare) => ({ variant: { serving: { sequenceShare } } })),
  ...[0.3, 0.5, 0.6, 0.8].map((positionDecay) => ({ variant: { serving: { positionDecay } } })),
  ...[24, 720].map((hours) => ({ variant: { serving: { halfLifeMs: hours * 3_600_000 } } })),
  { label: 'no recency within the history', variant: { serving: { halfLifeMs: 1e15 } } },
  { variant: { serving: { maxAnchors: 10 } } },
  { variant: { similarity: { k: 100 } } },
  { variant: { similarity: { k: 200 } } },
  { variant: { similarity: { minSupport: 1 } } },
  { label: 'build half-life 30 d (the former default)', variant: { halfLifeDays: 30 } },
  { variant: { algorithm: 'swing' } },
  { variant: { algorithm: 'llr' } },
  { variant: { algorithm: 'jaccard' } },
  { variant: { algorithm: 'ease' }, smallCatalogOnly: true },
  { variant: { algorithm: 'als' }, smallCatalogOnly: true },
];

const REPORT_START = '<!-- evaluate:report:start -->';
const REPORT_END = '<!-- evaluate:report:end -->';

/** The datasets of the report and the protocol each is scored with. */
async function reportDatasets(): Promise<
  { dataset: Dataset; protocol: EvaluationProtocol; about: string }[]
> {
  const movielens = await loadMovielens(DEFAULT_DATASET_FILES.movielens, { ratingsAsPurchases: true });
  const taobao = await loadTaobao(DEFAULT_DATASET_FILES.taobao);
  const shop = generatedShop();
  return [
    {
      dataset: movielens,
      protocol: defaultProtocol(movielens, 'purchase'),
      about: 'MovieLens 100K, every rating a purchase (long rating histories)',
    },
    {
      dataset: taobao,
      protocol: { kind: 'next-event', minEvents: 2 },
      about: 'Taobao UserBehavior, 2-hour slice (short real shopping sessions)',
    },
    {
      dataset: shop,
      protocol: defaultProtocol(shop, 'any'),
      about: 'generated shop (`elevens generate` defaults, seed 11), target: next new item of any type',
    },
  ];
}

/** The demo's synthetic shop, in a fixed window in the past. */
function generatedShop(): Dataset {
  const options = { users: 2_000, items: 1_000, events: 60_000, seed: 11, startMs: Date.UTC(2025, 10, 1) };
  const events = [...generateEvents(options)].map((e) => ({
    userId: e.userId,
    itemId: e.itemId,
    type: e.type,
    timestamp: e.timestamp,
    sessionId: e.sessionId,
  }));
  const itemCategories = new Map([...generateCatalog(options)].map((item) => [item.itemId, item.categoryId]));
  return { name: 'shop', events, itemCategories };
}

const f4 = (x: number) => x.toFixed(4);

async function writeReport(path: string, base: EvaluationSettings, log: (line: string) => void) {
  // The scratch stack is both services: loaded by the report alone, not by every evaluation.
  const { evaluateOnScratchStack } = await import('../served-stack');
  const sections: string[] = [];
  for (const { dataset, protocol, about } of await reportDatasets()) {
    const served = await evaluateOnScratchStack(
      dataset,
      protocol,
      [
        { name: 'item-kNN cosine, whole history', env: servingEnvOf(WHOLE_HISTORY) },
        { name: `**default**: ${describe(base, base)}`, env: {} },
      ],
      { ...process.env, BUILD_ALGORITHM: base.model.algorithm },
      (serving) => ({ ...base, serving }),
      log,
    );
    const split = splitDataset(dataset.events, protocol);
    const validation = splitDataset(split.train, protocol);
    const catalogItems = new Set(split.train.map((e) => e.itemId)).size;
    const rows = [
      { label: `**default**: ${describe(base, base)}`, variant: {} as Variant },
      ...REPORT_GRID,
    ].filter((row) => !('smallCatalogOnly' in row && row.smallCatalogOnly && catalogItems > EASE_MAX_ITEMS));
    const lines = [
      '| Setting | valid HR@10 | valid NDCG@10 | test HR@10 | test NDCG@10 | test Recall@20 |',
      '| :--- | ---: | ---: | ---: | ---: | ---: |',
    ];
    const grid: Evaluated[][] = [[], []];
    // The baseline's row is the popularity ranking of the run with the default settings.
    const baseline = 'popularity (baseline)';
    const figuresOf = (run: Evaluated) => (run.name === baseline ? run.result.popularity : run.result.model);
    [validation, split].forEach((part, p) => {
      const named = [
        { name: baseline, settings: base },
        ...rows.map((row) => ({
          name: row.label ?? describe(applyVariant(base, row.variant), base),
          settings: applyVariant(base, row.variant),
        })),
      ];
      grid[p] = evaluateSplit(dataset, part, named, (run) =>
        log(`${dataset.name} ${p === 0 ? 'valid' : 'test'}: ${run.name}: HR@10 ${f4(figuresOf(run).hr10)}`),
      );
    });
    grid[1]!.forEach((run, i) => {
      const valid = figuresOf(grid[0]![i]!);
      const test = figuresOf(run);
      lines.push(
        `| ${run.name} | ${f4(valid.hr10)} | ${f4(valid.ndcg10)} | ${f4(test.hr10)} | ` +
          `${f4(test.ndcg10)} | ${f4(test.recall20)} |`,
      );
    });
    const defaultServed = served[1]!.result;
    sections.push(
      `### ${about}`,
      '',
      `${dataset.events.length} events; ${describeProtocol(protocol)}; ${defaultServed.served.users} users ` +
        `evaluated; ${catalogItems} items in the train catalog, all of them ranked.`,
      '',
      '**Served over HTTP**: train events posted through ingest with their own timestamps, `elevens build`, every ' +
        'evaluated user asked of the running api (`GET /v1/recommendations?userId=…&limit=20`).',
      '',
      formatMetricTable([
        { name: 'popularity (baseline, same code)', summary: defaultServed.popularity },
        ...served.map((run) => ({ name: `${run.name} (served)`, summary: run.result.served })),
      ]),
      '',
      `Served lists identical to the offline ones, item for item: ${served
        .map(
          (run) => `${run.name.replace(/\*\*/g, '')}: ${run.result.identical} of ${run.result.served.users}`,
        )
        .join('; ')}.`,
      '',
      '**Offline, the same code**: validation = the same protocol cut from the train events (settings are chosen ' +
        'on it); test = the held-out targets above.',
      '',
      ...lines,
      '',
    );
  }
  const body = sections.join('\n');
  const existing = existsSync(path) ? readFileSync(path, 'utf8') : `${REPORT_START}\n${REPORT_END}\n`;
  const start = existing.indexOf(REPORT_START);
  const end = existing.indexOf(REPORT_END);
  if (start < 0 || end < start)
    throw new UserError(`${path}: missing ${REPORT_START} … ${REPORT_END} markers`);
  writeFileSync(path, `${existing.slice(0, start + REPORT_START.length)}\n${body}\n${existing.slice(end)}`);
  log(`wrote ${path}`);
}

/** The RECS_* that make the api serve with these settings. */
function servingEnvOf(serving: Variant['serving']): Record<string, string> {
  const env: Record<string, string> = {};
  if (serving?.positionDecay !== undefined) env.RECS_POSITION_DECAY = String(serving.positionDecay);
  if (serving?.sequenceShare !== undefined) env.RECS_SEQUENCE_SHARE = String(serving.sequenceShare);
  if (serving?.halfLifeMs !== undefined)
    env.RECS_HISTORY_HALF_LIFE_HOURS = String(serving.halfLifeMs / 3_600_000);
  if (serving?.maxAnchors !== undefined) env.RECS_MAX_ANCHORS = String(serving.maxAnchors);
  if (serving?.historyLength !== undefined)
    env.RECS_HISTORY_LENGTH = String(Math.min(serving.historyLength, LIVE_HISTORY_LENGTH));
  return env;
}

/**
 * `--served`: the protocol over HTTP against a running stack. With `--ingest`, the split's train events go in
 * through ingest first and a build runs on them (against DATABASE_URL and REDIS_URL, which must be the stack's).
 */
async function runServed(
  dataset: Dataset,
  protocol: EvaluationProtocol,
  settings: EvaluationSettings,
  buildConfig: BuildConfig,
  flags: EvaluateFlags,
  log: (line: string) => void,
) {
  const apiKey = flags.apiKey ?? process.env.ELEVENS_API_KEY;
  const target = {
    apiUrl: flags.served!,
    ...(flags.ingest === undefined ? {} : { ingestUrl: flags.ingest }),
    ...(apiKey === undefined ? {} : { apiKey }),
  };
  const split = splitDataset(dataset.events, protocol);
  if (flags.ingest !== undefined) {
    const posted = await postTrainEvents(split, target, (n) => {
      if (n % 20_000 === 0) log(`posted ${n} events`);
    });
    log(`posted ${posted} train events through ${flags.ingest}`);
    await requireServices(buildConfig);
    // Only the build listens for signals: posting events and asking the api end at one, as Node does by default.
    const interrupt = listenForInterrupt();
    let report: BuildReport;
    try {
      report = await buildOrEnd({ ...buildConfig, BUILD_GATE_FORCE: true }, { log: () => {}, interrupt });
    } catch (error) {
      // A build a signal stopped ends the command in its one line, with the signal's exit status, as `elevens build`.
      if (!interrupt.signal.aborted) throw error;
      console.error((error as Error).message);
      process.exitCode = exitStatusFor(interrupt);
      return;
    } finally {
      interrupt.stop();
    }
    log(`built ${report.version} from ${report.events} events; waiting for the api to serve it`);
    await waitForServedVersion(target, report.version);
  }
  const result = await evaluateServed(split, dataset.itemCategories, settings, target, (n) => {
    if (n % 1000 === 0) log(`asked ${n} of ${split.cases.length} users`);
  });
  console.log(
    `${dataset.name}: ${dataset.events.length} events, ${describeProtocol(protocol)}, served by ${flags.served} ` +
      `(model ${result.modelVersions.join(', ')})\n`,
  );
  console.log(
    formatMetricTable([
      { name: 'popularity (baseline)', summary: result.popularity },
      { name: `offline: ${describe(settings, settings)}`, summary: result.offline },
      { name: 'served by the api', summary: result.served },
    ]),
  );
  console.log(`\nidentical top 20: ${result.identical} of ${result.served.users} users`);
  for (const d of result.differences)
    console.log(`  ${d.userId}: offline ${d.offline.join(' ')} | served ${d.served.join(' ')}`);
}

/** `elevens evaluate`. */
export async function evaluateCommand(flags: EvaluateFlags) {
  const buildConfig = loadBuildConfig(process.env);
  const base = evaluationSettingsFrom(buildConfig, servingSettingsFrom(buildConfig));
  const log = (line: string) => console.error(line);
  if (flags.report !== undefined) {
    await writeReport(flags.report, base, log);
    return;
  }
  const dataset = await loadDataset(flags, buildConfig);
  const protocol = protocolFor(dataset, flags);
  const settings = applyVariant(base, variantFromFlags(flags));
  if (flags.served !== undefined) {
    if (describe(settings, base) !== describe(base, base))
      throw new UserError(
        '--served evaluates the configured settings: set BUILD_* and RECS_* instead of flags',
      );
    await runServed(dataset, protocol, base, buildConfig, flags, log);
    return;
  }
  const [run] = evaluateSplit(
    dataset,
    splitDataset(dataset.events, protocol),
    [{ name: describe(settings, base), settings }],
    () => {},
  );
  console.log(
    `${dataset.name}: ${dataset.events.length} events, ${describeProtocol(protocol)}, ` +
      `${run!.result.catalogItems} items ranked, ${run!.seconds.toFixed(1)} s\n`,
  );
  console.log(tableOf([run!]));
}
