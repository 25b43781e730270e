import { EVENT_TYPE_CODES, type EventTypeName, type InteractionsBuilder } from '@elevens/algorithms';
import { copyBuildEventsOut, type EventWindow, type Pool } from '@elevens/db';

const EMPTY_SLOT = -1;

/**
 * Dense indexes for external ids, in first-seen order, keyed by the ids' UTF-8 bytes: the COPY stream's bytes are
 * looked up where they lie, so the millions of repeated ids in a read never become JavaScript strings; only the
 * distinct ids are decoded, once, when `ids` is asked for.
 */
export class IdIndex {
  private arena = new Uint8Array(1 << 16);
  private arenaLength = 0;
  /** id i's bytes are arena[starts[i], starts[i + 1]) */
  private starts = new Uint32Array(1025);
  private hashes = new Uint32Array(1024);
  /** open addressing, linear probing; holds id indexes */
  private slots = new Int32Array(2048).fill(EMPTY_SLOT);
  private count = 0;
  private decoded: string[] = [];
  /** the id looked up last: streams repeat it often (one user's session arrives row after row) */
  private last = EMPTY_SLOT;

  get size(): number {
    return this.count;
  }

  /** The index of the id in bytes[from, to), added when new. */
  indexOfBytes(bytes: Uint8Array, from: number, to: number): number {
    const length = to - from;
    const last = this.last;
    if (last !== EMPTY_SLOT) {
      const start = this.starts[last]!;
      if (this.starts[last + 1]! - start === length) {
        let q = 0;
        while (q < length && this.arena[start + q] === bytes[from + q]) q++;
        if (q === length) return last;
      }
    }
    const id = this.lookUp(bytes, from, to);
    this.last = id;
    return id;
  }

  private lookUp(bytes: Uint8Array, from: number, to: number): number {
    let hash = 0x811c9dc5;
    for (let p = from; p < to; p++) hash = Math.imul(hash ^ bytes[p]!, 0x01000193);
    hash >>>= 0;
    const mask = this.slots.length - 1;
    const length = to - from;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const id = this.slots[slot]!;
      if (id === EMPTY_SLOT) return this.insert(slot, hash, bytes, from, to);
      if (this.hashes[id] !== hash) continue;
      const start = this.starts[id]!;
      if (this.starts[id + 1]! - start !== length) continue;
      let same = true;
      for (let q = 0; q < length; q++) {
        if (this.arena[start + q] !== bytes[from + q]) {
          same = false;
          break;
        }
      }
      if (same) return id;
    }
  }

  indexOf(id: string): number {
    const bytes = Buffer.from(id, 'utf8');
    return this.indexOfBytes(bytes, 0, bytes.length);
  }

  get(id: string): number | undefined {
    const index = this.peek(Buffer.from(id, 'utf8'));
    return index === EMPTY_SLOT ? undefined : index;
  }

  /** Every id by index. */
  get ids(): string[] {
    const arena = Buffer.from(this.arena.buffer, this.arena.byteOffset, this.arenaLength);
    for (let i = this.decoded.length; i < this.count; i++)
      this.decoded.push(arena.toString('utf8', this.starts[i]!, this.starts[i + 1]!));
    return this.decoded;
  }

  private peek(bytes: Uint8Array): number {
    let hash = 0x811c9dc5;
    for (let p = 0; p < bytes.length; p++) hash = Math.imul(hash ^ bytes[p]!, 0x01000193);
    hash >>>= 0;
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const id = this.slots[slot]!;
      if (id === EMPTY_SLOT) return EMPTY_SLOT;
      const start = this.starts[id]!;
      if (this.hashes[id] === hash && this.starts[id + 1]! - start === bytes.length) {
        let q = 0;
        while (q < bytes.length && this.arena[start + q] === bytes[q]) q++;
        if (q === bytes.length) return id;
      }
    }
  }

  private insert(slot: number, hash: number, bytes: Uint8Array, from: number, to: number): number {
    const id = this.count++;
    const length = to - from;
    if (this.arenaLength + length > this.arena.length) {
      const grown = new Uint8Array(Math.max(this.arena.length * 2, this.arenaLength + length));
      grown.set(this.arena.subarray(0, this.arenaLength));
      this.arena = grown;
    }
    this.arena.set(bytes.subarray(from, to), this.arenaLength);
    this.arenaLength += length;
    if (id + 1 >= this.hashes.length) {
      const hashes = new Uint32Array(this.hashes.length * 2);
      hashes.set(this.hashes);
      this.hashes = hashes;
      const starts = new Uint32Array(hashes.length + 1);
      starts.set(this.starts);
      this.starts = starts;
    }
    this.hashes[id] = hash;
    this.starts[id + 1] = this.arenaLength;
    this.slots[slot] = id;
    // Keep the load factor under one half, so probe runs stay short.
    if (this.count * 2 > this.slots.length) this.rehash();
    return id;
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2).fill(EMPTY_SLOT);
    const mask = slots.length - 1;
    for (let id = 0; id < this.count; id++) {
      let slot = this.hashes[id]! & mask;
      while (slots[slot] !== EMPTY_SLOT) slot = (slot + 1) & mask;
      slots[slot] = id;
    }
    this.slots = slots;
  }
}

/** Event type names as bytes, by code, for matching the COPY stream's bytes without decoding them. */
const TYPE_NAME_BYTES = EVENT_TYPE_CODES.map((t: EventTypeName) => Buffer.from(t, 'latin1'));

/** Event type code of the type name in bytes[from, to), or -1 for a name the builder does not know. */
function typeCodeOf(bytes: Buffer, from: number, to: number): number {
  const length = to - from;
  const first = bytes[from];
  for (let code = 0; code < TYPE_NAME_BYTES.length; code++) {
    const name = TYPE_NAME_BYTES[code]!;
    if (name.length !== length || name[0] !== first) continue;
    let q = 1;
    while (q < length && name[q] === bytes[from + q]) q++;
    if (q === length) return code;
  }
  return -1;
}

/** 2000-01-01T00:00:00Z, the epoch of Postgres binary timestamps. */
const PG_EPOCH_MS = 946_684_800_000;
const COPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const FIELDS_PER_ROW = 5;

export interface EventSourceResult {
  users: IdIndex;
  items: IdIndex;
  events: number;
}

/**
 * Streams the window's events out of Postgres (COPY, binary format) straight into the builder: rows are parsed
 * from the byte stream in place and ids interned from their bytes; nothing per event is allocated.
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
  const { stream, release } = await copyBuildEventsOut(pool, window);
  let events = 0;
  let pending: Buffer | null = null;
  let headerRead = false;
  let finished = false;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const buf: Buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
      let pos = 0;
      if (!headerRead) {
        if (buf.length < 19) {
          pending = buf;
          continue;
        }
        if (!buf.subarray(0, 11).equals(COPY_SIGNATURE)) throw new Error('not a binary COPY stream');
        pos = 19 + buf.readInt32BE(15);
        headerRead = true;
      }
      const end = buf.length;
      // One row per iteration; a row cut by the chunk's end is kept for the next chunk.
      for (;;) {
        if (pos + 2 > end) break;
        const fields = buf.readInt16BE(pos);
        if (fields === -1) {
          finished = true;
          break;
        }
        if (fields !== FIELDS_PER_ROW)
          throw new Error(`expected ${FIELDS_PER_ROW} fields per row, got ${fields}`);
        let p = pos + 2;
        if (p + 4 > end) break;
        const userLength = buf.readInt32BE(p);
        const userStart = p + 4;
        p = userStart + userLength;
        if (p + 4 > end) break;
        const itemLength = buf.readInt32BE(p);
        const itemStart = p + 4;
        p = itemStart + itemLength;
        if (p + 4 > end) break;
        const typeLength = buf.readInt32BE(p);
        const typeStart = p + 4;
        p = typeStart + typeLength;
        if (p + 12 > end) break;
        const tsStart = p + 4;
        p = tsStart + 8;
        if (p + 4 > end) break;
        const sessionLength = buf.readInt32BE(p);
        const sessionStart = p + 4;
        p = sessionStart + Math.max(0, sessionLength);
        if (p > end) break;
        pos = p;
        const type = typeCodeOf(buf, typeStart, typeStart + typeLength);
        if (type < 0) continue;
        // int64 microseconds, read as two halves: exact as a double for any date this side of year 285,000.
        const micros = buf.readInt32BE(tsStart) * 4_294_967_296 + buf.readUInt32BE(tsStart + 4);
        builder.add(
          users.indexOfBytes(buf, userStart, userStart + userLength),
          items.indexOfBytes(buf, itemStart, itemStart + itemLength),
          type,
          PG_EPOCH_MS + micros / 1000,
          sessionLength < 0 ? -1 : sessions.indexOfBytes(buf, sessionStart, sessionStart + sessionLength),
        );
        events++;
      }
      pending = pos < end ? Buffer.from(buf.subarray(pos)) : null;
      onProgress?.(events);
    }
    if (!finished) throw new Error('the COPY stream ended before its trailer');
  } finally {
    release();
  }
  return { users, items, events };
}
