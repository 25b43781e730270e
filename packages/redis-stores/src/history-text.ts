/**
 * The live history's text format, written and read here only: each entry is the JSON text
 * `[type, itemId, timestampMs]`, and read-user-state.lua answers a user's newest entries joined as one JSON array
 * text.
 */

export interface HistoryEntry {
  type: string;
  itemId: string;
  timestampMs: number;
}

export const historyEntryText = (e: HistoryEntry) => JSON.stringify([e.type, e.itemId, e.timestampMs]);

/** One raw history entry; null when it is not `[type, itemId, timestampMs]` JSON. */
export function parseHistoryEntry(raw: string): HistoryEntry | null {
  try {
    const [type, itemId, timestampMs] = JSON.parse(raw) as [string, string, number];
    return typeof itemId === 'string' ? { type, itemId, timestampMs } : null;
  } catch {
    return null;
  }
}

/** The entries of a parsed history array; values that are not `[type, itemId, timestampMs]` are left out. */
export function historyOf(entries: unknown): HistoryEntry[] {
  const history: HistoryEntry[] = [];
  if (!Array.isArray(entries)) return history;
  for (const entry of entries) {
    if (!Array.isArray(entry)) continue;
    const [type, itemId, timestampMs] = entry as unknown[];
    if (typeof type === 'string' && typeof itemId === 'string' && typeof timestampMs === 'number')
      history.push({ type, itemId, timestampMs });
  }
  return history;
}

/** The event types `historyEntryText` writes most: read as these constants, not as new strings. */
const KNOWN_TYPES = ['view', 'click', 'fav', 'cart', 'purchase'] as const;

/** A backslash (an escape) or a control character: text the fast reading leaves to JSON.parse. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: raw control characters are what it must find
const NOT_PLAIN = /[\\\u0000-\u001f]/;

const QUOTE = 34;
const COMMA = 44;
const OPEN = 91;
const CLOSE = 93;
const MINUS = 45;
const ZERO = 48;
const NINE = 57;

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
 * The entries as `historyOf(JSON.parse(text))` gives them, or null when the text is not exactly what
 * `historyEntryText` and read-user-state.lua write (`[["view","i1",1733400000000],…]`, no escapes, integer times):
 * the caller then parses it as JSON. JSON.parse interns every short string value in V8's string table; with a
 * served model's ids in that table each look-up is a cache miss, and profiles of the loaded API put a sixth of its
 * CPU there. Read with indexOf and slice instead, an id is a plain string.
 */
export function plainHistoryOf(text: string): HistoryEntry[] | null {
  const end = text.length - 1;
  if (end < 1 || text.charCodeAt(0) !== OPEN || text.charCodeAt(end) !== CLOSE || NOT_PLAIN.test(text))
    return null;
  const history: HistoryEntry[] = [];
  if (end === 1) return history;
  let at = 1;
  for (;;) {
    // ["type","itemId",timestampMs]
    if (text.charCodeAt(at) !== OPEN || text.charCodeAt(at + 1) !== QUOTE) return null;
    const typeEnd = text.indexOf('"', at + 2);
    if (typeEnd < 0 || text.charCodeAt(typeEnd + 1) !== COMMA || text.charCodeAt(typeEnd + 2) !== QUOTE)
      return null;
    const itemEnd = text.indexOf('"', typeEnd + 3);
    if (itemEnd < 0 || text.charCodeAt(itemEnd + 1) !== COMMA) return null;
    const timeEnd = text.indexOf(']', itemEnd + 2);
    if (timeEnd < 0 || !isPlainInteger(text, itemEnd + 2, timeEnd)) return null;
    history.push({
      type: typeAt(text, at + 2, typeEnd),
      itemId: text.slice(typeEnd + 3, itemEnd),
      timestampMs: Number(text.slice(itemEnd + 2, timeEnd)),
    });
    at = timeEnd + 1;
    if (at === end) return history;
    if (text.charCodeAt(at) !== COMMA) return null;
    at++;
  }
}

/** `historyOf(JSON.parse(text))`, read without JSON.parse when the text is plain (`plainHistoryOf`). */
export const historyFromText = (text: string): HistoryEntry[] =>
  plainHistoryOf(text) ?? historyOf(JSON.parse(text));
