import { endianness } from 'node:os';

/**
 * Packed scored lists: 8 bytes per entry (uint32 little-endian item index into the model's item table, float32
 * little-endian score). About a third of the memory of a sorted set with string members, and one HMGET fetches
 * the lists of a whole history.
 */
export const PACKED_ENTRY_BYTES = 8;

export interface ScoredIndexes {
  idx: Uint32Array;
  score: Float32Array;
}

// Typed-array views write in the platform's byte order; the wire format is little-endian.
const LITTLE_ENDIAN = endianness() === 'LE';

export function encodeScored(
  idx: ArrayLike<number>,
  score: ArrayLike<number>,
  from = 0,
  to = idx.length,
): Buffer {
  const buf = Buffer.allocUnsafe((to - from) * PACKED_ENTRY_BYTES);
  for (let i = from, o = 0; i < to; i++, o += PACKED_ENTRY_BYTES) {
    buf.writeUInt32LE(idx[i]!, o);
    buf.writeFloatLE(score[i]!, o + 4);
  }
  return buf;
}

/** All entries of many lists in one buffer (entry e at byte e·8), so each list is a zero-copy subarray. */
export function encodePackedLists(lists: { idx: ArrayLike<number>; score: ArrayLike<number> }): Buffer {
  const n = lists.idx.length;
  if (!LITTLE_ENDIAN) return encodeScored(lists.idx, lists.score, 0, n);
  const bytes = new ArrayBuffer(n * PACKED_ENTRY_BYTES);
  const asIndex = new Uint32Array(bytes);
  const asScore = new Float32Array(bytes);
  for (let e = 0, w = 0; e < n; e++, w += 2) {
    asIndex[w] = lists.idx[e]!;
    asScore[w + 1] = lists.score[e]!;
  }
  return Buffer.from(bytes);
}

/** An aligned copy of a packed buffer, read as index and score words (reused: grown when too small). */
let scratch = new ArrayBuffer(4096);

/**
 * Decodes the packed entries of `buf` into idx/score at [from, to) (to − from entries). On little-endian machines
 * the bytes are read as 32-bit words (copied first when not 4-byte aligned), several times faster than one
 * readUInt32LE/readFloatLE per field: a server decodes a whole model's lists this way when it loads a version.
 */
export function decodeScoredInto(
  buf: Buffer,
  idx: Uint32Array,
  score: Float32Array,
  from: number,
  to: number,
): void {
  if (!LITTLE_ENDIAN) {
    for (let e = from, o = 0; e < to; e++, o += PACKED_ENTRY_BYTES) {
      idx[e] = buf.readUInt32LE(o);
      score[e] = buf.readFloatLE(o + 4);
    }
    return;
  }
  const bytes = (to - from) * PACKED_ENTRY_BYTES;
  let words: ArrayBuffer;
  let offset: number;
  if (buf.byteOffset % 4 === 0) {
    words = buf.buffer as ArrayBuffer;
    offset = buf.byteOffset;
  } else {
    if (scratch.byteLength < bytes) scratch = new ArrayBuffer(Math.max(bytes, 2 * scratch.byteLength));
    new Uint8Array(scratch, 0, bytes).set(buf.subarray(0, bytes));
    words = scratch;
    offset = 0;
  }
  const asIndex = new Uint32Array(words, offset, 2 * (to - from));
  const asScore = new Float32Array(words, offset, 2 * (to - from));
  for (let e = from, w = 0; e < to; e++, w += 2) {
    idx[e] = asIndex[w]!;
    score[e] = asScore[w + 1]!;
  }
}

export function decodeScored(buf: Buffer): ScoredIndexes {
  const n = Math.floor(buf.length / PACKED_ENTRY_BYTES);
  const idx = new Uint32Array(n);
  const score = new Float32Array(n);
  decodeScoredInto(buf, idx, score, 0, n);
  return { idx, score };
}
