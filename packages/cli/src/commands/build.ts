import { constants as osConstants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatDuration } from '@elevens/config';
import { finishModelRun } from '@elevens/db';
import { TIMED_OUT, within } from '@elevens/http/within';
import {
  type BuildConfig,
  type BuildDeps,
  type BuildFlags,
  BuildInterrupted,
  type BuildProgress,
  type BuildReport,
  buildEnvFromFlags,
  loadBuildConfig,
  ModelLineBusy,
  parseEvery,
  runBuild,
} from '@elevens/trainer';
import cliProgress from 'cli-progress';
import { openBatchInfra, requireServices } from '../infra';
import { createCliLogger, type Logger } from '../logger';
import { isUnmigrated, UserError } from '../run';

const formatPhases = (phases: Record<string, number>) =>
  Object.entries(phases)
    .map(([phase, s]) => `${phase} ${s.toFixed(2)}s`)
    .join(', ');

const formatReport = (r: BuildReport) =>
  `${r.status === 'published' ? 'published' : 'rejected'} model ${r.version} (line ${r.model}, ${r.algorithm}): ${r.events} events, ` +
  `${r.users} users, ${r.items} items in ${r.seconds.toFixed(2)}s (${formatPhases(r.phases)}); ` +
  `peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB` +
  (r.status === 'rejected' ? `; the served model stays. Refused: ${r.reason}${forceHint(r.reason)}` : '');

/** How to publish a refused model anyway, unless the gate's reason already says it. */
const forceHint = (reason: string | null) =>
  reason?.includes('--force') ? '' : '; --force (BUILD_GATE_FORCE=true) publishes it';

/** `elevens build`'s exit status when the quality gate refused the model (a failed build exits 1, as any error). */
const EXIT_REJECTED = 2;
/** `elevens build`'s exit status when another build of the line was running: this one did nothing. */
const EXIT_LINE_BUSY = 3;

/** A build that did not end in a report: the message names it (once it has a version) and the cause. */
class BuildFailed extends Error {
  override name = 'BuildFailed';
  constructor(
    readonly version: string | null,
    why: string,
    override readonly cause: unknown,
  ) {
    super(`build ${version ?? '(no version yet)'} failed: ${why}`);
  }
}

/** What a build run by `buildWithinLimit` tells its caller as it goes. */
export interface BuildHooks {
  log: BuildDeps['log'];
  onProgress?: (progress: BuildProgress) => void;
  /** Signals to the process that stop the build (`elevens build` and `evaluate`: the demo handles its own). */
  interrupt?: Interrupt;
}

/**
 * SIGINT and SIGTERM to `elevens build` (or `elevens evaluate`'s build): `signal` is aborted at the first, its reason
 * the signal's name, `again` at a second.
 */
export interface Interrupt {
  signal: AbortSignal;
  again: AbortSignal;
}

/**
 * Listens for SIGINT and SIGTERM until `stop()`. After a second signal it stops listening, so a third ends the
 * process outright (Node's default), should stopping hang.
 */
export function listenForInterrupt(): Interrupt & { stop(): void } {
  const first = new AbortController();
  const second = new AbortController();
  const stop = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  function onSignal(name: NodeJS.Signals) {
    if (!first.signal.aborted) return first.abort(name);
    second.abort(name);
    stop();
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { signal: first.signal, again: second.signal, stop };
}

/** A command's exit status once a signal stopped its build: 128 + the signal's number, as a shell reports it. */
export const exitStatusFor = (interrupt: Interrupt) =>
  128 + osConstants.signals[interrupt.signal.reason as 'SIGINT' | 'SIGTERM'];

/** Why an interrupted build still running is cut off: its grace ran out, or a second signal came. */
const CUT_OFF: unique symbol = Symbol('cut off');

/**
 * Resolves with CUT_OFF `graceMs` after `interrupt`'s first signal (a phase is checked only at its end: a long read
 * would hold the process past a deploy's kill), or at its second. `dispose` clears the timer and the listeners.
 */
function cutOffAfter(interrupt: Interrupt, graceMs: number) {
  let timer: NodeJS.Timeout | undefined;
  let cutOff = (_: typeof CUT_OFF) => {};
  const due = new Promise<typeof CUT_OFF>((resolve) => {
    cutOff = resolve;
  });
  const now = () => cutOff(CUT_OFF);
  const startGrace = () => {
    timer = setTimeout(now, graceMs);
  };
  if (interrupt.again.aborted) now();
  else if (interrupt.signal.aborted) startGrace();
  interrupt.signal.addEventListener('abort', startGrace, { once: true });
  interrupt.again.addEventListener('abort', now, { once: true });
  return {
    due,
    dispose() {
      clearTimeout(timer);
      interrupt.signal.removeEventListener('abort', startGrace);
      interrupt.again.removeEventListener('abort', now);
    },
  };
}

/**
 * One build on connections of its own, under BUILD_TIMEOUT: `elevens build`, and the builds `demo` and `evaluate`
 * run, so a store that stops answering fails them too instead of holding them for good. Past the limit its
 * connections are closed, so the I/O it waits on fails and it stops; its run is recorded as failed for the limit
 * (as far as Postgres answers within BUILD_STOP_GRACE), and the connections are dropped, so the next build of a loop
 * starts afresh. Interrupted (`hooks.interrupt`), it stops at its next check; one still running BUILD_STOP_GRACE
 * later, or at a second signal, is cut off in the same way. Throws BuildFailed when it did not end in a report
 * (caused by BuildInterrupted when interrupted), ModelLineBusy when it did not start.
 */
export async function buildWithinLimit(config: BuildConfig, hooks: BuildHooks): Promise<BuildReport> {
  const infra = openBatchInfra(config);
  let version: string | null = null;
  const build = runBuild(
    {
      ...infra,
      log: (message, fields) => {
        if (version === null && typeof fields?.version === 'string') version = fields.version;
        hooks.log(message, fields);
      },
      ...(hooks.onProgress === undefined ? {} : { onProgress: hooks.onProgress }),
      ...(hooks.interrupt === undefined ? {} : { signal: hooks.interrupt.signal }),
    },
    config,
  );
  const interrupt = hooks.interrupt;
  const cutOff = interrupt === undefined ? null : cutOffAfter(interrupt, config.BUILD_STOP_GRACE);
  let stopped = false;
  try {
    const first = await within(
      cutOff === null ? build : Promise.race([build, cutOff.due]),
      config.BUILD_TIMEOUT,
    ).catch((error: unknown) => {
      throw error instanceof ModelLineBusy
        ? error
        : new BuildFailed(version, (error as Error).message, error);
    });
    if (first !== TIMED_OUT && first !== CUT_OFF) return first;
    infra.cut();
    stopped = true;
    const why =
      first === TIMED_OUT || interrupt === undefined
        ? `it did not finish within ${formatDuration(config.BUILD_TIMEOUT)} (BUILD_TIMEOUT); its connections were closed`
        : interrupt.again.aborted
          ? `interrupted by ${interrupt.signal.reason}, then ${interrupt.again.reason}; its connections were closed`
          : `interrupted by ${interrupt.signal.reason}, and it did not stop within ${formatDuration(config.BUILD_STOP_GRACE)} (BUILD_STOP_GRACE); its connections were closed`;
    const late = await within(
      build.catch(() => null),
      config.BUILD_STOP_GRACE,
    );
    // A build that finished as its connections closed recorded its own outcome.
    if (late !== null && late !== TIMED_OUT) return late;
    // Its failure is recorded as the limit's, not as whatever closing its connections made fail.
    if (version !== null)
      await within(
        finishModelRun(infra.pool, version, { status: 'failed', error: why }).catch(() => {}),
        config.BUILD_STOP_GRACE,
      );
    throw new BuildFailed(
      version,
      why,
      first === CUT_OFF ? new BuildInterrupted(interrupt?.signal.reason) : new Error(why),
    );
  } finally {
    cutOff?.dispose();
    // A connection the stalled build still holds would keep the pool from ending: the process does not wait.
    if (stopped) void infra.close().catch(() => {});
    else await infra.close();
  }
}

/**
 * A failed build as the one line `action` prints for a command that ends with it (a database never migrated as
 * `action` explains it); its stack goes to `logDebug`. Anything else is passed on.
 */
function endingFailure(
  error: unknown,
  logDebug: (fields: Record<string, unknown>, message: string) => void = () => {},
): unknown {
  if (error instanceof ModelLineBusy) return new UserError(error.message);
  if (!(error instanceof BuildFailed)) return error;
  if (isUnmigrated(error.cause)) return error.cause;
  logDebug({ err: error.cause, version: error.version }, 'build failed');
  return new UserError(error.message);
}

/** `buildWithinLimit` for a command that ends when its build fails, in one line. */
export const buildOrEnd = (config: BuildConfig, hooks: BuildHooks): Promise<BuildReport> =>
  buildWithinLimit(config, hooks).catch((error: unknown) => {
    throw endingFailure(error);
  });

/** `elevens build`'s one build: progress on a terminal's stderr or as log lines, then the report on stdout. */
async function buildAndReport(
  config: BuildConfig,
  logger: Logger,
  interrupt: Interrupt,
): Promise<BuildReport> {
  const tty = process.stderr.isTTY === true;
  const bar = tty ? buildProgressBar() : null;
  try {
    const report = await buildWithinLimit(config, {
      interrupt,
      log: (message, fields) => {
        if (!tty) logger.info(fields ?? {}, message);
      },
      onProgress: (progress) => {
        bar?.update(progress);
        if (!tty && progress.kind === 'phase-end')
          logger.info({ phase: progress.phase, seconds: progress.seconds }, 'build phase done');
      },
    });
    bar?.stop();
    console.log(formatReport(report));
    return report;
  } finally {
    bar?.stop();
  }
}

/**
 * A progress bar on stderr: the bar tracks the current phase's measurable progress (events read, lists written),
 * the text shows the finished phases with their durations. Shared with `elevens demo`.
 */
export function buildProgressBar() {
  const bar = new cliProgress.SingleBar(
    {
      format: 'build {phase} [{bar}] {detail} | {done}',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const done: string[] = [];
  let phase = 'start';
  bar.start(1, 0, { phase, detail: '', done: '' });
  return {
    update(progress: BuildProgress) {
      switch (progress.kind) {
        case 'phase-start':
          phase = progress.phase;
          bar.setTotal(1);
          bar.update(0, { phase, detail: '', done: done.join(' ') });
          break;
        case 'phase-end':
          done.push(`${progress.phase} ${progress.seconds.toFixed(1)}s`);
          bar.update(1, { phase, detail: '', done: done.join(' ') });
          break;
        case 'events':
          bar.update(0, { phase, detail: `${progress.events.toLocaleString('en')} events` });
          break;
        case 'publish':
          bar.setTotal(Math.max(1, progress.total));
          bar.update(progress.written, {
            phase,
            detail: `${progress.part} ${progress.written}/${progress.total}`,
          });
          break;
      }
    },
    stop: () => bar.stop(),
  };
}

/** `elevens build`. */
export async function buildCommand(flags: BuildFlags) {
  const config = loadBuildConfig(buildEnvFromFlags(process.env, flags));
  let everyMs: number | null;
  try {
    everyMs = parseEvery(flags.every);
  } catch (error) {
    throw new UserError((error as Error).message);
  }
  await requireServices(config);
  const logger = createCliLogger('build', config.LOG_LEVEL);
  const interrupt = listenForInterrupt();
  interrupt.signal.addEventListener('abort', () => {
    if (process.stderr.isTTY !== true)
      logger.warn(
        { signal: interrupt.signal.reason },
        'stopping: a build under way stops at its next step, or is cut off after BUILD_STOP_GRACE or at a second signal',
      );
  });
  try {
    await buildOnceOrEvery(config, everyMs, logger, interrupt);
  } finally {
    interrupt.stop();
  }
}

/**
 * One build, or one every `everyMs` until a signal. A build a signal stopped ends the command in one line, with
 * the signal's exit status; a signal between builds ends it at once, with the same.
 */
async function buildOnceOrEvery(
  config: BuildConfig,
  everyMs: number | null,
  logger: Logger,
  interrupt: Interrupt,
) {
  const logDebug = (fields: Record<string, unknown>, message: string) => logger.debug(fields, message);
  /** A build's failure once a signal came: said in one line, whatever stopped the build. */
  const endInterrupted = (error: unknown) => {
    console.error((endingFailure(error, logDebug) as Error).message);
    process.exitCode = exitStatusFor(interrupt);
  };
  if (everyMs === null) {
    const report = await buildAndReport(config, logger, interrupt).catch((error: unknown) => {
      if (error instanceof ModelLineBusy) return error;
      if (interrupt.signal.aborted) return endInterrupted(error);
      throw endingFailure(error, logDebug);
    });
    if (report instanceof ModelLineBusy) {
      console.error(report.message);
      process.exitCode = EXIT_LINE_BUSY;
    } else if (report?.status === 'rejected') process.exitCode = EXIT_REJECTED;
    return;
  }
  // A schedule outlives any one build: the first failing (a store restarting as the stack comes up) must
  // not end it, or the job would exit and its restart policy begin the schedule again at once. A round whose
  // line another build holds is skipped.
  for (;;) {
    await buildAndReport(config, logger, interrupt).catch((error: unknown) => {
      if (interrupt.signal.aborted) return endInterrupted(error);
      if (error instanceof ModelLineBusy) {
        logger.warn({ model: error.model }, error.message);
        return;
      }
      const failed = error instanceof BuildFailed ? error : null;
      logger.error(
        { err: failed?.cause ?? error, version: failed?.version },
        failed?.message ?? 'build failed',
      );
    });
    await sleep(everyMs, undefined, { signal: interrupt.signal }).catch(() => {});
    if (interrupt.signal.aborted) {
      process.exitCode = exitStatusFor(interrupt);
      return;
    }
  }
}
