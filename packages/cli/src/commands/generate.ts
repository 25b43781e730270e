import { createWriteStream } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  GENERATED_EVENTS_CSV_HEADER,
  GENERATED_ITEMS_CSV_HEADER,
  type GeneratorOptions,
  generateCatalog,
  generatedEventToCsv,
  generatedItemToCsv,
  generateEvents,
} from '@elevens/generator';
import { UserError } from '../run';

/** Lines per chunk handed to the stream: one write per line would cost more than generating it. */
const LINES_PER_CHUNK = 2_000;

function* csvChunks<T>(header: string, rows: Iterable<T>, toCsv: (row: T) => string): Generator<string> {
  let chunk = [header];
  for (const row of rows) {
    chunk.push(toCsv(row));
    if (chunk.length >= LINES_PER_CHUNK) {
      yield chunk.join('\n') + '\n';
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk.join('\n') + '\n';
}

/** Why a file cannot be opened for writing, for the codes an operator can fix from the path alone. */
const UNWRITABLE: Record<string, string> = {
  ENOENT: 'no such directory',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  EROFS: 'read-only file system',
};

/**
 * Writes CSV to a file, or to stdout (left open) when `path` is undefined or "-"; honours back-pressure. False when
 * stdout's reader went away before the end (`elevens generate | head`): it has read what it wanted.
 */
async function writeCsv(chunks: Iterable<string>, path: string | undefined): Promise<boolean> {
  const source = Readable.from(chunks);
  try {
    if (path === undefined || path === '-') {
      await pipeline(source, process.stdout as Writable, { end: false });
    } else {
      await pipeline(source, createWriteStream(path));
    }
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (path === undefined || path === '-') {
      if (code === 'EPIPE') return false;
    } else if (code in UNWRITABLE) {
      throw new UserError(`cannot write ${path}: ${UNWRITABLE[code]}`);
    }
    throw error;
  }
}

/**
 * Streams the generated events (and optionally the catalog) as CSV; nothing is held in memory. False when stdout's
 * reader stopped reading before the end.
 */
export async function generateCsv(
  options: GeneratorOptions,
  out: { events?: string; catalog?: string },
): Promise<boolean> {
  if (out.catalog !== undefined) {
    await writeCsv(
      csvChunks(GENERATED_ITEMS_CSV_HEADER, generateCatalog(options), generatedItemToCsv),
      out.catalog,
    );
  }
  return await writeCsv(
    csvChunks(GENERATED_EVENTS_CSV_HEADER, generateEvents(options), generatedEventToCsv),
    out.events,
  );
}

export interface GenerateFlags {
  users: number;
  items: number;
  events: number;
  seed: number;
  days?: number;
  out?: string;
  catalogOut?: string;
}

/** `elevens generate`. */
export async function generateCommand(flags: GenerateFlags) {
  if (flags.catalogOut === '-' || (flags.catalogOut !== undefined && flags.catalogOut === flags.out)) {
    throw new UserError('--catalog-out must be a file of its own');
  }
  const started = performance.now();
  const options: GeneratorOptions = {
    users: flags.users,
    items: flags.items,
    events: flags.events,
    seed: flags.seed,
    ...(flags.days === undefined ? {} : { days: flags.days }),
  };
  let complete: boolean;
  try {
    complete = await generateCsv(options, {
      ...(flags.out === undefined ? {} : { events: flags.out }),
      ...(flags.catalogOut === undefined ? {} : { catalog: flags.catalogOut }),
    });
  } catch (error) {
    if (error instanceof RangeError) throw new UserError(error.message);
    throw error;
  }
  if (!complete) return;
  const seconds = (performance.now() - started) / 1000;
  console.error(
    `generated ${flags.events} events of ${flags.users} users on ${flags.items} items (seed ${flags.seed})` +
      `${flags.out && flags.out !== '-' ? ` into ${flags.out}` : ''}` +
      `${flags.catalogOut ? `, catalog into ${flags.catalogOut}` : ''} in ${seconds.toFixed(1)}s`,
  );
}
