/**
 * Reading V8 CPU profiles (`node --cpu-prof`) of the benchmarks' servers: self time by function and by where the
 * code lives, over the samples taken in the time windows a benchmark measured, as Markdown tables per unit of work
 * (request, event, read): `profileSummary`. Shared by profile:api, bench:ingest and bench:festival.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The parts of a .cpuprofile (V8's Profiler.Profile) read here. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  /** µs, on the monotonic clock process.hrtime reads */
  startTime: number;
  endTime: number;
  samples: number[];
  /** µs between samples; the first is from startTime */
  timeDeltas: number[];
}

/** [from, to) in µs of the monotonic clock (`process.hrtime`), which every process's profile shares. */
export type ProfileWindow = readonly [fromUs: number, toUs: number];

/** Now on the clock profiles are stamped with, in µs. */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * The profile of the main thread of the process `pid` in `dir`. Node names them
 * CPU.<date>.<time>.<pid>.<thread id>.<sequence>.cpuprofile; the main thread's id is 0.
 */
function readMainThreadProfile(dir: string, pid: number): { file: string; profile: CpuProfile } {
  const name = readdirSync(dir).find((entry) => {
    const parts = entry.split('.');
    return parts.at(-1) === 'cpuprofile' && parts[3] === String(pid) && parts[4] === '0';
  });
  if (name === undefined) throw new Error(`no profile of process ${pid}'s main thread in ${dir}`);
  const file = `${dir.replace(/\/$/, '')}/${name}`;
  return { file, profile: JSON.parse(readFileSync(file, 'utf8')) as CpuProfile };
}

/** Where a function's code lives: a workspace package, a dependency, Node itself, or V8's own entries. */
function areaOf(url: string, functionName: string): string {
  if (url === '')
    return functionName.startsWith('(') ? functionName : '(native: V8 built-ins, Node bindings)';
  if (url.startsWith('node:')) return 'node internals';
  const dependency = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (dependency) return dependency[1]!;
  const workspace = /\/((?:packages|services)\/[^/]+)\//.exec(url);
  return workspace ? workspace[1]! : url;
}

/** The file (relative to the repository) and line; tsx compiles each source file onto one line, so no line. */
function location(url: string, lineNumber: number): string {
  const file = url.replace('file://', '').replace(REPO_ROOT, '');
  return lineNumber > 0 ? `${file}:${lineNumber + 1}` : file;
}

interface SelfTimes {
  /** largest first */
  byFunction: { us: number; name: string; where: string }[];
  byArea: Map<string, number>;
  /** µs of samples inside the windows */
  totalUs: number;
}

/** Self time per function and per area over the samples inside `windows`. */
function selfTimes(profile: CpuProfile, windows: readonly ProfileWindow[]): SelfTimes {
  const last = windows.reduce((end, [, toUs]) => Math.max(end, toUs), 0);
  const first = windows.reduce((start, [fromUs]) => Math.min(start, fromUs), Number.POSITIVE_INFINITY);
  if (first < profile.startTime || last > profile.endTime)
    throw new Error('the windows are not within the profile: its clock is not the one process.hrtime reads');
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byFunction = new Map<string, { us: number; name: string; where: string }>();
  const byArea = new Map<string, number>();
  let totalUs = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i]!;
    // A sample stands for the time until the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    if (!windows.some(([fromUs, toUs]) => at >= fromUs && at < toUs)) continue;
    const frame = frames.get(profile.samples[i]!)!;
    const where = location(frame.url, frame.lineNumber);
    const key = `${frame.functionName}\t${where}`;
    const entry = byFunction.get(key) ?? { us: 0, name: frame.functionName || '(anonymous)', where };
    entry.us += us;
    byFunction.set(key, entry);
    const area = areaOf(frame.url, frame.functionName);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    totalUs += us;
  }
  return { byFunction: [...byFunction.values()].sort((a, b) => b.us - a.us), byArea, totalUs };
}

/**
 * Two Markdown tables of `times`: the `topFunctions` functions with the most self time, then every area, each as
 * a share of the samples and in µs per `unit` (`units` of them done in the windows).
 */
function selfTimeTables(times: SelfTimes, units: number, unit: string, topFunctions = 25): string {
  const share = (us: number) => `${((100 * us) / Math.max(1, times.totalUs)).toFixed(1)} %`;
  const perUnit = (us: number) => (us / Math.max(1, units)).toFixed(1);
  return [
    `| self time | µs/${unit} | function | where |`,
    '| ---: | ---: | --- | --- |',
    ...times.byFunction
      .slice(0, topFunctions)
      .map((f) => `| ${share(f.us)} | ${perUnit(f.us)} | ${f.name} | ${f.where} |`),
    '',
    `| self time | µs/${unit} | where the code lives |`,
    '| ---: | ---: | --- |',
    ...[...times.byArea]
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => `| ${share(us)} | ${perUnit(us)} | ${area} |`),
  ].join('\n');
}

export interface ProfileSummaryOptions {
  /** the directory the process wrote its profile to */
  dir: string;
  /** the process whose main thread's profile to read */
  pid: number;
  windows: readonly ProfileWindow[];
  /** the work done in the windows, and its name per row (request, event, read…) */
  units: number;
  unit: string;
  /** what the windows were, for the header line */
  of: string;
  /** how many functions to list, most self time first */
  topFunctions?: number;
}

/** The header line (the profile's file and its samples in the windows) and `selfTimeTables` of one process. */
export function profileSummary({
  dir,
  pid,
  windows,
  units,
  unit,
  of,
  topFunctions,
}: ProfileSummaryOptions): string {
  const { file, profile } = readMainThreadProfile(dir, pid);
  const times = selfTimes(profile, windows);
  return [
    `profile: ${file} (${(times.totalUs / 1e6).toFixed(1)} s of samples in ${of})`,
    '',
    selfTimeTables(times, units, unit, topFunctions),
  ].join('\n');
}
