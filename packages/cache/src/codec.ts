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

export function decodeScored(buf: Buffer): ScoredIndexes {
  const n = Math.floor(buf.length / PACKED_ENTRY_BYTES);
  const idx = new Uint32Array(n);
  const score = new Float32Array(n);
  for (let i = 0, o = 0; i < n; i++, o += PACKED_ENTRY_BYTES) {
    idx[i] = buf.readUInt32LE(o);
    score[i] = buf.readFloatLE(o + 4);
  }
  return { idx, score };
}
