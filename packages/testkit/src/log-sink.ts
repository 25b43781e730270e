import { Writable } from 'node:stream';

/** One JSON line an app logged, parsed. */
export interface LogEntry {
  /** pino's numbers: 30 info, 40 warn, 50 error */
  level: number;
  msg?: string;
  err?: { type?: string; message?: string; code?: string };
  [field: string]: unknown;
}

export interface LogSink {
  /** the destination to hand an app: `buildApiApp({ config, logging: { stream: sink.stream } })` */
  stream: Writable;
  /** every line written so far */
  entries(): LogEntry[];
  /** the `msg` of every line written so far */
  messages(): string[];
  /** everything written so far, as written */
  text(): string;
}

/**
 * Keeps an app's log lines in memory: a test that provokes errors sends them here instead of to the test run's
 * output, where they would read as failures, and can assert on them.
 */
export function createLogSink(): LogSink {
  const lines: LogEntry[] = [];
  const written: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      written.push(String(chunk));
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return {
    stream,
    entries: () => [...lines],
    messages: () => lines.map((line) => line.msg ?? ''),
    text: () => written.join(''),
  };
}
