import { decodeScored, decodeScoredInto, encodePackedLists, encodeScored } from '@elevens/redis-stores';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const entriesArb = fc.array(
  fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.float({ noNaN: true }).map(Math.fround)),
  { maxLength: 80 },
);

describe('packed scored lists', () => {
  it('decode what was encoded, from buffers at any byte offset (aligned or not)', () => {
    fc.assert(
      fc.property(entriesArb, fc.integer({ min: 0, max: 7 }), (entries, shift) => {
        const idx = entries.map(([i]) => i);
        const score = entries.map(([, s]) => s);
        const packed = encodeScored(idx, score);
        const shifted = Buffer.concat([Buffer.alloc(shift), packed]).subarray(shift);
        const decoded = decodeScored(shifted);
        expect([...decoded.idx]).toEqual(idx);
        expect([...decoded.score]).toEqual(score);
        // Into the middle of larger arrays, as a whole model's lists are loaded.
        const into = {
          idx: new Uint32Array(entries.length + 3),
          score: new Float32Array(entries.length + 3),
        };
        decodeScoredInto(shifted, into.idx, into.score, 2, 2 + entries.length);
        expect([...into.idx.subarray(2, 2 + entries.length)]).toEqual(idx);
        expect([...into.score.subarray(2, 2 + entries.length)]).toEqual(score);
        expect(encodePackedLists({ idx, score }).equals(packed)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
