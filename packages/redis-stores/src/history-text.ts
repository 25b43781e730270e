/**
 * The live history's stored text, written and read here and by the Lua scripts only (record-user-events.lua,
 * lua/includes/read-history.lua): one string per user, the entry count in six digits and a newline, then the
 * entries oldest first (by time; events of one millisecond in the order they arrived), each the JSON text
 * `[type, itemId, timestampMs]` followed by a newline (JSON text holds no raw newline). A write appends its entries
 * and rewrites the count in place (or merges them in when they reach back before the newest stored entry); a read
 * is one GET, and the reader takes the newest entries it wants from the end, without JSON.parse
 * (`historyFromStored`).
 */

export interface HistoryEntry {
  type: string;
  itemId: string;
  timestampMs: number;
}

export const historyEntryText = (e: HistoryEntry) => JSON.stringify([e.type, e.itemId, e.timestampMs]);

/** The stored text of entries already in `historyEntryText`'s form, given newest first. */
export const storedHistoryText = (entryTexts: readonly string[]): string => {
  let text = `${String(entryTexts.length).padStart(6, '0')}\n`;
  for (let k = entryTexts.length - 1; k >= 0; k--) text += `${entryTexts[k]}\n`;
  return text;
};

/** A parsed entry when it is `[type, itemId, timestampMs]`, else null. */
function entryOf(value: unknown): HistoryEntry | null {
  if (!Array.isArray(value)) return null;
  const [type, itemId, timestampMs] = value as unknown[];
  return typeof type === 'string' && typeof itemId === 'string' && typeof timestampMs === 'number'
    ? { type, itemId, timestampMs }
    : null;
}

/** One entry's JSON text; null when it is not `[type, itemId, timestampMs]`. */
export function parseHistoryEntry(raw: string): HistoryEntry | null {
  try {
    return entryOf(JSON.parse(raw));
  } catch {
    return null;
  }
}

/** The event types `historyEntryText` writes most: read as these constants, not as new strings. */
const KNOWN_TYPES = ['view', 'click', 'fav', 'cart', 'purchase'] as const;

/** A backslash (an escape) or a control character but the newline: text the fast reading leaves to JSON.parse. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: raw control characters are what it must find
const NOT_PLAIN = /[\\\u0000-\u0009\u000b-\u001f]/;

const QUOTE = 34;
const COMMA = 44;
const OPEN = 91;
const CLOSE = 93;
const MINUS = 45;
const ZERO = 48;
const NINE = 57;
const NEWLINE = 10;

/** Whether text[from, to) is an integer as JSON writes one: -?(0|[1-9][0-9]*), at most 16 digits (exact). */
function isPlainInteger(text: string, from: number, to: number): boolean {
  let i = from;
  if (text.charCodeAt(i) === MINUS) i++;
  const digits = to - i;
  if (digits < 1 || digits > 16 || (digits > 1 && text.charCodeAt(i) === ZERO)) return false;
  for (; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < ZERO || c > NINE) return false;
  }
  return true;
}

function typeAt(text: string, from: number, to: number): string {
  for (const type of KNOWN_TYPES) if (to - from === type.length && text.startsWith(type, from)) return type;
  return text.slice(from, to);
}

/**
 * The entry text[from, to) as `parseHistoryEntry` reads it, or null when it is not exactly what `historyEntryText`
 * writes with no escapes and an integer time (`["view","i1",1733400000000]`): the caller then uses JSON.parse.
 * JSON.parse interns every short string value in V8's string table; with a served model's ids in that table each
 * look-up is a cache miss, and profiles of the loaded API put a sixth of its CPU there. Read with indexOf and
 * slice instead, an id is a plain string.
 */
function plainEntry(text: string, from: number, to: number): HistoryEntry | null {
  if (to - from < 2 || text.charCodeAt(from) !== OPEN || text.charCodeAt(to - 1) !== CLOSE) return null;
  if (text.charCodeAt(from + 1) !== QUOTE) return null;
  const typeEnd = text.indexOf('"', from + 2);
  if (
    typeEnd < 0 ||
    typeEnd >= to ||
    text.charCodeAt(typeEnd + 1) !== COMMA ||
    text.charCodeAt(typeEnd + 2) !== QUOTE
  )
    return null;
  const itemEnd = text.indexOf('"', typeEnd + 3);
  if (itemEnd < 0 || itemEnd >= to || text.charCodeAt(itemEnd + 1) !== COMMA) return null;
  if (!isPlainInteger(text, itemEnd + 2, to - 1)) return null;
  return {
    type: typeAt(text, from + 2, typeEnd),
    itemId: text.slice(typeEnd + 3, itemEnd),
    timestampMs: Number(text.slice(itemEnd + 2, to - 1)),
  };
}

/**
 * The newest `limit` entries of a stored text (`storedHistoryText`, or a script's read), newest first; those that
 * are not `[type, itemId, timestampMs]` are left out. Throws when the text is not a stored history.
 */
export function historyFromStored(text: string, limit = Number.POSITIVE_INFINITY): HistoryEntry[] {
  const headerEnd = text.indexOf('\n');
  if (headerEnd < 1 || text.charCodeAt(text.length - 1) !== NEWLINE)
    throw new Error('not a stored live history text');
  const history: HistoryEntry[] = [];
  // Entries with escapes or control characters (other than the newlines between them) go to JSON.parse.
  const plain = !NOT_PLAIN.test(text);
  for (let end = text.length - 1, taken = 0; end > headerEnd && taken < limit; taken++) {
    const start = text.lastIndexOf('\n', end - 1) + 1;
    const entry = (plain ? plainEntry(text, start, end) : null) ?? parseHistoryEntry(text.slice(start, end));
    if (entry !== null) history.push(entry);
    end = start - 1;
  }
  return history;
}
