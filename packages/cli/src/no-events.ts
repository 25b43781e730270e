import { basename } from 'node:path';

/** What a command that reads events from a file (import, replay) read of it. */
export interface FileOfEvents {
  file: string;
  format: string;
  /** events read */
  events: number;
  /** lines skipped */
  skipped: number;
  /** the file's size */
  bytes: number;
  /** --allow-empty: a file without event lines is no problem */
  allowEmpty: boolean;
  /** what the command did with the events, for the message: 'imported', 'replayed' */
  done: string;
}

/**
 * Why a file gave no event, in one line, or null when it gave some (or none, allowed): a scripted nightly run must
 * tell a cut-short download or a wrong --format from a real import. A file whose every line was skipped is of
 * another format, which --allow-empty does not excuse.
 */
export function noEventProblem(read: FileOfEvents): string | null {
  if (read.events > 0) return null;
  const name = basename(read.file);
  if (read.skipped > 0)
    return `no line of ${name} is a ${read.format} event (${read.skipped} skipped): check --format`;
  if (read.allowEmpty) return null;
  const why =
    read.bytes === 0
      ? 'is empty (0 bytes)'
      : `holds no event line${read.format === 'csv' ? ' (a header at most)' : ''}`;
  return `${name} ${why}: nothing ${read.done} (--allow-empty accepts a file without events)`;
}
