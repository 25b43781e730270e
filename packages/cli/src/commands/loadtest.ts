import { parseDuration } from '@elevens/config';
// The flags are checked with these alone: the run's HTTP client (undici) is loaded once they pass, so a refusal
// answers without it.
import { failureLine, failureVerdict, formatLatencyMs } from '../loadtest/report';
import { DEFAULT_MIX, parseMix, type TrafficMix } from '../loadtest/scenario';
import { httpUrlFlag, integerFlag, UserError } from '../run';

export interface LoadtestFlags {
  scenario: 'festival';
  baseline: string;
  peak: string;
  duration: string;
  api: string;
  ingest: string;
  key?: string;
  out: string;
  mix?: string;
  users: string;
  items: string;
  connections: string;
}

/** An http(s) service root: the load's paths (`/v1/...`) are sent from the root, so a path would be dropped. */
function baseUrlFlag(name: string, text: string, example: string): string {
  const url = httpUrlFlag(name, text, example);
  const { pathname, search, hash } = new URL(url);
  if (pathname !== '/' || search !== '' || hash !== '')
    throw new UserError(
      `${name} must be a base URL without a path, such as ${example}, got ${JSON.stringify(text)}`,
    );
  return url;
}

const NO_KEY_HINT = 'pass --key or set ELEVENS_API_KEY';

function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new UserError(`${name} must be a positive number, got ${JSON.stringify(text)}`);
  return value;
}

/** `elevens loadtest`. */
export async function loadtestCommand(flags: LoadtestFlags) {
  let durationMs: number;
  try {
    durationMs = parseDuration(flags.duration);
  } catch (error) {
    throw new UserError(`--duration: ${(error as Error).message}`);
  }
  // The scenario's steps last whole seconds: a shorter run has no spike, and too few requests to report on.
  if (durationMs < 1000)
    throw new UserError(
      `--duration must be at least 1s (steps last whole seconds), got ${JSON.stringify(flags.duration)}`,
    );
  let mix: TrafficMix = DEFAULT_MIX;
  if (flags.mix) {
    try {
      mix = parseMix(flags.mix);
    } catch (error) {
      throw new UserError((error as Error).message);
    }
  }
  const baseline = positive('--baseline', flags.baseline);
  const peak = positive('--peak', flags.peak);
  if (peak < baseline) throw new UserError('--peak must be at least --baseline');
  const urls = {
    api: baseUrlFlag('--api', flags.api, 'http://127.0.0.1:3000'),
    ingest: baseUrlFlag('--ingest', flags.ingest, 'http://127.0.0.1:3001'),
  };
  const population = {
    users: integerFlag('--users', flags.users, 1),
    items: integerFlag('--items', flags.items, 1),
  };
  const maxConnections = integerFlag('--connections', flags.connections, 1);
  const { LoadTargetError, ReportDirError, runFestivalLoadTest } = await import('../loadtest');
  const result = await runFestivalLoadTest({
    baseline,
    peak,
    durationMs,
    mix,
    urls,
    ...(flags.key ? { apiKey: flags.key } : {}),
    outDir: flags.out,
    population,
    maxConnections,
    onStep: (step) =>
      console.error(`${(step.startMs / 1000).toFixed(1)}s ${step.phase}: ${Math.round(step.rate)} req/s`),
  }).catch((error: unknown) => {
    // Checked before the first request, so a mistyped --out costs no run.
    if (error instanceof ReportDirError) throw new UserError(`--out: ${error.message}`);
    // Checked with one request of each kind: a run that would only fail is not sent.
    if (error instanceof LoadTargetError)
      throw new UserError(
        error.status === 401 && !flags.key ? `${error.message}: ${NO_KEY_HINT}` : error.message,
      );
    throw error;
  });
  const t = result.report.total;
  console.log(
    `${t.requests} requests: ${t.ok} ok, ${t.shed} shed, ${t.limited} rate-limited, ${t.errors} errors; ` +
      `p50 ${formatLatencyMs(t.p50)} ms, p95 ${formatLatencyMs(t.p95)} ms, p99 ${formatLatencyMs(t.p99)} ms`,
  );
  for (const failure of result.report.failures) console.log(`  ${failureLine(failure)}`);
  console.log(`wrote ${result.reportPath} and ${result.chartPath}`);
  const verdict = failureVerdict(t, result.report.failures, flags.key ? {} : { '401': NO_KEY_HINT });
  // A run with no request answered 2xx measured nothing: it fails, so a script running it stops there.
  if (t.requests > 0 && t.ok === 0 && verdict !== null) throw new UserError(verdict);
  if (verdict !== null) console.error(verdict);
}
