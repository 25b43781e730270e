import { StringDecoder } from 'node:string_decoder';
import { EVENT_TYPE_CODES, type InteractionsBuilder } from '@elevens/algorithms';
import { copyEventsOut, type EventWindow, type Pool } from '@elevens/db';

/** Dense indexes for external ids, in first-seen order. */
export class IdIndex {
  readonly ids: string[] = [];
  private readonly index = new Map<string, number>();

  indexOf(id: string): number {
    let i = this.index.get(id);
    if (i === undefined) {
      i = this.ids.length;
      this.ids.push(id);
      this.index.set(id, i);
    }
    return i;
  }

  get(id: string): number | undefined {
    return this.index.get(id);
  }

  get size(): number {
    return this.ids.length;
  }
}

const TYPE_CODE = new Map<string, number>(EVENT_TYPE_CODES.map((t, i) => [t, i]));

/** COPY text format escapes backslash, tab, newline and carriage return; ids rarely contain them. */
function unescapeCopyField(field: string): string {
  if (!field.includes('\\')) return field;
  return field.replace(/\\(.)/g, (_, c: string) => ({ t: '\t', n: '\n', r: '\r', '\\': '\\' })[c] ?? c);
}

export interface EventSourceResult {
  users: IdIndex;
  items: IdIndex;
  events: number;
}

/**
 * Streams the window's events out of Postgres (COPY, text format) straight into the builder: rows are parsed
 * from the byte stream one line at a time and never materialised as objects.
 */
export async function streamEventsInto(
  pool: Pool,
  window: EventWindow,
  builder: InteractionsBuilder,
  items: IdIndex,
  onProgress?: (events: number) => void,
): Promise<EventSourceResult> {
  const users = new IdIndex();
  const sessions = new IdIndex();
  const { stream, release } = await copyEventsOut(pool, window);
  let events = 0;
  let carry = '';
  // A chunk may end inside a multi-byte character; the decoder holds the partial bytes back.
  const decoder = new StringDecoder('utf8');
  const handleLine = (line: string) => {
    const f = line.split('\t');
    if (f.length < 5) return;
    const type = TYPE_CODE.get(f[2]!);
    if (type === undefined) return;
    const session = f[4] === '\\N' ? -1 : sessions.indexOf(unescapeCopyField(f[4]!));
    builder.add(
      users.indexOf(unescapeCopyField(f[0]!)),
      items.indexOf(unescapeCopyField(f[1]!)),
      type,
      Number(f[3]),
      session,
    );
    events++;
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const text = carry + decoder.write(chunk);
      let start = 0;
      let newline = text.indexOf('\n', start);
      while (newline !== -1) {
        handleLine(text.slice(start, newline));
        start = newline + 1;
        newline = text.indexOf('\n', start);
      }
      carry = text.slice(start);
      onProgress?.(events);
    }
    carry += decoder.end();
    if (carry.length > 0) handleLine(carry);
  } finally {
    release();
  }
  return { users, items, events };
}
