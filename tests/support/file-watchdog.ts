import { execFileSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { Reporter, TestModule, Vitest } from 'vitest/node';

export interface FileWatchdogOptions {
  /** Longest a test file may take, from being handed to a worker (before its imports) to its last test. */
  fileTimeLimitMs: number;
  /** How often running files are checked against the limit. */
  checkEveryMs?: number;
}

/**
 * Vitest bounds tests and hooks but not the import of a test file: a file stuck while collecting holds the run
 * for ever. This reporter stops the run, naming the file and whether it was collecting or running tests, once a
 * file exceeds `fileTimeLimitMs`. When `TEST_PROGRESS_FILE` is set it also appends `start`/`end` lines per file
 * there, so whoever kills a run from outside (`.ci/run`) can tell which files were still running.
 */
export default class FileWatchdog implements Reporter {
  private readonly running = new Map<string, { startedAtMs: number; collected: boolean }>();
  private readonly progressFile = process.env.TEST_PROGRESS_FILE;
  private root = process.cwd();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: FileWatchdogOptions) {}

  onInit(vitest: Vitest) {
    this.root = vitest.config.root;
    this.timer = setInterval(() => this.check(), this.options.checkEveryMs ?? 5_000);
    this.timer.unref();
  }

  onTestModuleQueued(module: TestModule) {
    this.running.set(module.moduleId, { startedAtMs: Date.now(), collected: false });
    this.record('start', module);
  }

  onTestModuleCollected(module: TestModule) {
    // A file whose import failed is done: none of its tests run, and no end is reported for it.
    if (module.state() === 'failed') return this.onTestModuleEnd(module);
    const file = this.running.get(module.moduleId);
    if (file) file.collected = true;
  }

  onTestModuleEnd(module: TestModule) {
    this.running.delete(module.moduleId);
    this.record('end', module);
  }

  onTestRunEnd() {
    clearInterval(this.timer);
  }

  private record(event: 'start' | 'end', module: TestModule) {
    if (this.progressFile) appendFileSync(this.progressFile, `${event}\t${this.name(module.moduleId)}\n`);
  }

  private name(moduleId: string): string {
    return relative(this.root, moduleId);
  }

  private check() {
    const nowMs = Date.now();
    const overdue = [...this.running].filter(
      ([, file]) => nowMs - file.startedAtMs > this.options.fileTimeLimitMs,
    );
    if (overdue.length === 0) return;
    const limitS = Math.round(this.options.fileTimeLimitMs / 1000);
    for (const [moduleId, file] of overdue) {
      const seconds = Math.round((nowMs - file.startedAtMs) / 1000);
      const doing = file.collected ? 'running its tests' : 'still collecting (importing the file)';
      process.stderr.write(
        `\ntest file watchdog: ${this.name(moduleId)} has taken ${seconds} s, over the ${limitS} s limit, ${doing}\n`,
      );
    }
    const others = [...this.running.keys()].filter((id) => !overdue.some(([overdueId]) => overdueId === id));
    if (others.length > 0)
      process.stderr.write(
        `test file watchdog: also running: ${others.map((id) => this.name(id)).join(', ')}\n`,
      );
    process.stderr.write('test file watchdog: stopping the test run\n');
    // A worker stuck in an import answers no cancellation, so the run cannot end by itself. Its workers go first:
    // a worker left without its parent can keep running, and spinning, long after the run.
    for (const pid of descendantsOf(process.pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    process.exit(1);
  }
}

/** Every process started under `pid` (test workers and whatever they started), children after their own. */
function descendantsOf(pid: number): number[] {
  let children: number[] = [];
  try {
    children = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line !== '')
      .map(Number);
  } catch {
    // pgrep exits 1 when there is none
  }
  return children.flatMap((child) => [...descendantsOf(child), child]);
}
