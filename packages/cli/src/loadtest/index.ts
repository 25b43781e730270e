import { constants } from 'node:fs';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ReportInput, renderLatencySvg, renderMarkdown } from './report';
import type { Population } from './requests';
import { checkTargets, runLoad } from './run';
import { latencySeries, summarize } from './samples';
import { festivalSteps, type LoadStep, TRAFFIC_KINDS, type TrafficMix } from './scenario';

export * from './report';
export { checkTargets, LoadTargetError, runLoad, sendPaced } from './run';
export * from './samples';
export * from './scenario';

export interface FestivalLoadTestOptions {
  baseline: number;
  peak: number;
  durationMs: number;
  mix: TrafficMix;
  urls: { api: string; ingest: string };
  apiKey?: string;
  outDir: string;
  population?: Population;
  maxConnections?: number;
  timeoutSeconds?: number;
  onStep?: (step: LoadStep, index: number) => void;
}

export interface FestivalLoadTestResult {
  reportPath: string;
  chartPath: string;
  report: ReportInput;
}

/** Why a report directory cannot be written, for the codes an operator can fix from the path alone. */
const UNWRITABLE_DIR: Record<string, string> = {
  EEXIST: 'it is not a directory',
  ENOTDIR: 'it is not a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
};

/** A directory the report cannot be written into: found before the load is sent, not after. */
export class ReportDirError extends Error {
  override name = 'ReportDirError';
}

/** Creates the report directory (and its parents) and checks that it is writable. */
export async function prepareReportDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (error) {
    const reason = UNWRITABLE_DIR[(error as NodeJS.ErrnoException).code ?? ''];
    if (reason === undefined) throw error;
    throw new ReportDirError(`cannot write the report into ${dir}: ${reason}`);
  }
}

/**
 * Runs the festival scenario and writes `report.md` and `latency.svg` into the output directory. A target that is
 * down or refuses a kind of request stops it with a LoadTargetError before the run.
 */
export async function runFestivalLoadTest(options: FestivalLoadTestOptions): Promise<FestivalLoadTestResult> {
  await prepareReportDir(options.outDir);
  const population = options.population ?? { users: 10_000, items: 2_000 };
  const timeoutSeconds = options.timeoutSeconds ?? 10;
  await checkTargets({
    mix: options.mix,
    urls: options.urls,
    ...(options.apiKey ? { apiKey: options.apiKey } : {}),
    population,
    timeoutSeconds,
  });
  const steps = festivalSteps({
    baseline: options.baseline,
    peak: options.peak,
    durationMs: options.durationMs,
  });
  const startedAt = new Date().toISOString();
  const log = await runLoad({
    steps,
    mix: options.mix,
    urls: options.urls,
    ...(options.apiKey ? { apiKey: options.apiKey } : {}),
    population,
    maxConnections: options.maxConnections ?? 100,
    timeoutSeconds,
    ...(options.onStep ? { onStep: options.onStep } : {}),
  });
  const phaseNames = [...new Set(steps.map((s) => s.phase))];
  const report: ReportInput = {
    startedAt,
    durationMs: options.durationMs,
    baseline: options.baseline,
    peak: options.peak,
    mix: options.mix,
    urls: options.urls,
    phases: phaseNames.map((phase) => {
      const own = steps.flatMap((s, i) => (s.phase === phase ? [i] : []));
      const ownSet = new Set(own);
      const first = steps[own[0]!]!;
      const durationMs = own.reduce((sum, i) => sum + steps[i]!.durationMs, 0);
      const meanRate = own.reduce((sum, i) => sum + steps[i]!.rate * steps[i]!.durationMs, 0) / durationMs;
      return {
        phase,
        startMs: first.startMs,
        durationMs,
        meanRate,
        summary: summarize(log, (i) => ownSet.has(log.step[i]!)),
      };
    }),
    kinds: TRAFFIC_KINDS.filter((k) => options.mix[k] > 0).map((kind) => {
      const index = TRAFFIC_KINDS.indexOf(kind);
      return { kind, summary: summarize(log, (i) => log.kind[i] === index) };
    }),
    total: summarize(log, () => true),
    failures: [...log.failures.values()].sort((a, b) => b.count - a.count),
  };
  const bucketMs = Math.max(250, Math.round(options.durationMs / 120));
  const reportPath = join(options.outDir, 'report.md');
  const chartPath = join(options.outDir, 'latency.svg');
  await writeFile(reportPath, renderMarkdown(report));
  await writeFile(
    chartPath,
    renderLatencySvg(latencySeries(log, bucketMs, options.durationMs), steps, options.durationMs),
  );
  return { reportPath, chartPath, report };
}
