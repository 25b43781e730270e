/**
 * Linux `perf record` around a benchmark's load (BENCH_PERF=1 in profile:api and bench:festival): it samples V8's
 * C++ runtime and built-ins, libc and the kernel, which a V8 `--cpu-prof` profile folds into the JavaScript
 * function that called them (JSON.parse interning short strings showed there as a few µs of its caller's self time,
 * and in perf as a sixth of the API process). JIT-compiled JavaScript shows as bare addresses: the V8 profile names
 * it. Needs `perf` on PATH and the right to sample (root, or kernel.perf_event_paranoid low enough).
 */
import { execFileSync, spawn } from 'node:child_process';

export const WITH_PERF = process.env.BENCH_PERF === '1';

/** A recording once stopped: the hottest symbols of one process, or of every process with one command name. */
export interface PerfRecording {
  file: string;
  /** `perf report` lines: share of the selected samples, shared object, symbol */
  topSymbols(of: { pid: number } | { comm: string }, count: number): string[];
}

/**
 * Starts `perf record` of process `pid`, or of the whole machine, into `file`; the returned function stops it and
 * answers the recording.
 */
export function perfRecord(target: { pid: number } | 'machine', file: string): () => Promise<PerfRecording> {
  const scope = target === 'machine' ? ['-a'] : ['-p', String(target.pid)];
  const perf = spawn('perf', ['record', '-F', '999', ...scope, '-o', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let errors = '';
  perf.stderr.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    perf.once('exit', resolve);
    perf.once('error', (error) => reject(new Error(`perf could not run: ${error.message}`)));
  });
  // Settled when stopped; until then a failure to start must not end the run as an unhandled rejection.
  exited.catch(() => undefined);
  return async () => {
    perf.kill('SIGINT');
    const code = await exited;
    if (code !== 0 && code !== null) throw new Error(`perf record exited with ${code}: ${errors.trim()}`);
    return {
      file,
      topSymbols(of, count) {
        const filter = 'pid' in of ? ['--pid', String(of.pid)] : ['--comm', of.comm];
        const report = execFileSync(
          'perf',
          [
            'report',
            '-i',
            file,
            ...filter,
            '--stdio',
            '--no-children',
            '--percentage',
            'relative',
            '--sort',
            'dso,sym',
            '-g',
            'none',
          ],
          { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] },
        );
        return report
          .split('\n')
          .filter((line) => line.trim() !== '' && !line.startsWith('#'))
          .slice(0, count);
      },
    };
  };
}
