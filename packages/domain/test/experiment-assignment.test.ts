import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ArmSlices,
  ASSIGNMENT_POINTS,
  assignArm,
  assignmentPoint,
  MIN_ARM_SHARE,
  resliceArms,
  sharesAsSlices,
} from '../src/index';

type Arm = { name: string; share: number };

/** Arms of names from a small pool (so edits keep, drop and add some), shares summing to 1. */
const armsArbitrary = fc
  .uniqueArray(
    fc.record({
      name: fc.constantFrom('a', 'b', 'c', 'd', 'e', '__proto__'),
      weight: fc.integer({ min: 1, max: 1000 }),
    }),
    { minLength: 2, maxLength: 5, selector: (arm) => arm.name },
  )
  .map((drawn) => {
    const total = drawn.reduce((sum, arm) => sum + arm.weight, 0);
    return drawn.map(({ name, weight }) => ({ name, share: Math.max(MIN_ARM_SHARE, weight / total) }));
  });

const length = (slices: [number, number][]) => slices.reduce((sum, [start, end]) => sum + (end - start), 0);

function overlap(a: [number, number][], b: [number, number][]): number {
  let total = 0;
  for (const [s1, e1] of a)
    for (const [s2, e2] of b) total += Math.max(0, Math.min(e1, e2) - Math.max(s1, s2));
  return total;
}

/** The slices tile the line: sorted by start, each ending where the next begins, from 0 to 2^53. */
function expectTiling(slices: ArmSlices) {
  const all = slices.flat().sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [start, end] of all) {
    expect(start).toBe(at);
    expect(end).toBeGreaterThan(start);
    at = end;
  }
  expect(at).toBe(ASSIGNMENT_POINTS);
}

describe('resliceArms', () => {
  it('keeps the line tiled and each arm at its share, and moves a user only from a shrinking arm to a growing one', () => {
    fc.assert(
      fc.property(armsArbitrary, fc.array(armsArbitrary, { minLength: 1, maxLength: 6 }), (first, edits) => {
        let arms: Arm[] = first;
        let slices = sharesAsSlices(arms);
        for (const next of edits) {
          const after = resliceArms(arms, slices, next);
          expectTiling(after);
          // each arm at its share, give or take a few of the 2^53 points (rounding)
          const total = next.reduce((sum, arm) => sum + arm.share, 0);
          for (const [i, arm] of next.entries())
            expect(Math.abs(length(after[i]!) - (arm.share / total) * ASSIGNMENT_POINTS)).toBeLessThan(64);
          const lengthOf = (list: Arm[], all: ArmSlices, name: string) => {
            const i = list.findIndex((arm) => arm.name === name);
            return i < 0 ? 0 : length(all[i]!);
          };
          let moved = 0;
          for (const [p, from] of arms.entries())
            for (const [i, to] of next.entries()) {
              const shared = from.name === to.name ? 0 : overlap(slices[p]!, after[i]!);
              if (shared === 0) continue;
              moved += shared;
              expect(lengthOf(next, after, from.name)).toBeLessThan(length(slices[p]!));
              expect(length(after[i]!)).toBeGreaterThan(lengthOf(arms, slices, to.name));
            }
          // the fewest moves: what the arms that shrank or went let go
          const letGo = arms.reduce(
            (sum, arm, p) => sum + Math.max(0, length(slices[p]!) - lengthOf(next, after, arm.name)),
            0,
          );
          expect(moved).toBe(letGo);
          arms = next;
          slices = after;
        }
      }),
    );
  });

  it('moves no one when the shares stay and only the order changes', () => {
    const arms = [
      { name: 'a', share: 0.2 },
      { name: 'b', share: 0.3 },
      { name: 'c', share: 0.5 },
    ];
    const before = sharesAsSlices(arms);
    const reordered = [arms[2]!, arms[0]!, arms[1]!];
    expect(resliceArms(arms, before, reordered)).toEqual([before[2], before[0], before[1]]);
  });

  it('divides the line as the shares in order always did', () => {
    const arms = [
      { name: 'control', share: 0.5 },
      { name: 'b', share: 0.3 },
      { name: 'c', share: 0.2 },
    ];
    const slices = sharesAsSlices(arms);
    for (let i = 0; i < 20_000; i++) {
      const point = assignmentPoint('exp-1', `user-${i}`);
      const expected = point < 0.5 ? 'control' : point < 0.5 + 0.3 ? 'b' : 'c';
      expect(assignArm('exp-1', `user-${i}`, arms, slices).name).toBe(expected);
    }
  });
});

describe('assignmentPoint', () => {
  /** χ² of counts against a uniform spread over their buckets. */
  const chiSquare = (counts: number[], n: number) =>
    counts.reduce((sum, count) => sum + (count - n / counts.length) ** 2 / (n / counts.length), 0);

  it.each([
    ['user-', (i: number) => `user-${i}`],
    ['numbers', (i: number) => String(i)],
    ['e-mails', (i: number) => `shopper${i}@example.com`],
    ['hex', (i: number) => i.toString(16).padStart(8, '0')],
  ])('spreads 100,000 users of ids like %s evenly over 100 buckets (χ², p > 0.001)', (_, userId) => {
    for (const experiment of ['halflife-72h', 'a', 'exp-2']) {
      const counts = new Array<number>(100).fill(0);
      for (let i = 0; i < 100_000; i++) counts[Math.floor(assignmentPoint(experiment, userId(i)) * 100)]!++;
      // 148.2: the χ² with 99 degrees of freedom that a uniform spread exceeds once in a thousand
      expect(chiSquare(counts, 100_000)).toBeLessThan(148.2);
    }
  });
});
