import { readFileSync, writeFileSync } from 'node:fs';

/** The peak resident set size of one build, in bytes. */
export interface PeakRss {
  /** notes the resident size now (at each phase end): the figure where the kernel's mark cannot be reset */
  sample(): void;
  /** ends the measure: the peak since `startPeakRss`, at least the resident size now (the same at later calls) */
  finish(): number;
}

/** Meters running in this process: the kernel's mark is reset only when none is, so none loses a peak it saw. */
let running = 0;

/** VmHWM of a /proc/<pid>/status text, in bytes, or null when it holds none. */
const highWaterMark = (status: string): number | null => {
  const kib = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
  return kib === undefined ? null : Number(kib) * 1024;
};

/**
 * Starts measuring a build's peak RSS. The process's high-water mark (getrusage's maxRSS) never falls, so in a
 * process that builds again and again (`elevens build --every`) every build after the largest would record the
 * largest one's peak. On Linux the mark is reset at the start (writing 5 to `clear_refs`) and read from VmHWM at
 * the end, which covers synchronous phases no timer could sample. Elsewhere (no such file, a /proc that refuses
 * it, or another build of this process still measuring, whose mark it must not reset), a build that raised the
 * process's mark reports it, being its own peak; one that did not reports the largest resident size seen at its
 * phase ends, a lower bound. `procSelf` is /proc/self but in tests.
 */
export function startPeakRss(procSelf = '/proc/self'): PeakRss {
  const resident = () => process.memoryUsage().rss;
  const processMark = () => process.resourceUsage().maxRSS * 1024;
  let reset = false;
  if (running === 0) {
    try {
      writeFileSync(`${procSelf}/clear_refs`, '5');
      reset = true;
    } catch {
      // Not Linux, or a kernel or sandbox that refuses it: the portable figure below.
    }
  }
  running++;
  const markAtStart = processMark();
  let sampled = resident();
  let finished: number | null = null;
  const measure = () => {
    const now = resident();
    if (reset) {
      const mark = highWaterMark(readFileSync(`${procSelf}/status`, 'utf8'));
      if (mark !== null) return Math.max(mark, now);
    }
    const mark = processMark();
    return mark > markAtStart ? mark : Math.max(sampled, now);
  };
  return {
    sample() {
      sampled = Math.max(sampled, resident());
    },
    finish() {
      if (finished === null) {
        finished = measure();
        running--;
      }
      return finished;
    },
  };
}
