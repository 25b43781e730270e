import { describe, expect, it } from 'vitest';
import { alsNeighbors, implicitAlsLoss, trainImplicitAls } from '../src/als';
import { neighborsOf } from '../src/neighbors';
import { seededRandom } from '../src/sampling';
import type { Interactions } from '../src/types';
import { type PlainEntry, toInteractions } from './support';

const BLOCKS = 3;
const ITEMS_PER_BLOCK = 5;
const blockOf = (item: number) => Math.floor(item / ITEMS_PER_BLOCK);

/** Users each pick 3–4 items of one block; one in five also touches a random item of another block. */
function plantedBlocks(): Interactions {
  const random = seededRandom(3);
  const users = Array.from({ length: 60 }, (_, u) => {
    const block = u % BLOCKS;
    const entries = new Map<number, PlainEntry>();
    const wanted = 3 + Math.floor(random() * 2);
    while (entries.size < wanted) {
      const item = block * ITEMS_PER_BLOCK + Math.floor(random() * ITEMS_PER_BLOCK);
      entries.set(item, { item, weight: 1 + Math.floor(random() * 3), primary: false });
    }
    if (random() < 0.2) {
      const other = (block + 1 + Math.floor(random() * (BLOCKS - 1))) % BLOCKS;
      const item = other * ITEMS_PER_BLOCK + Math.floor(random() * ITEMS_PER_BLOCK);
      entries.set(item, { item, weight: 1, primary: false });
    }
    return entries;
  });
  return toInteractions({ numItems: BLOCKS * ITEMS_PER_BLOCK, users });
}

// As many factors as planted blocks; λ = 1 keeps 60 users from overfitting the noise interactions.
const options = { factors: 3, iterations: 8, regularization: 1, alpha: 10, seed: 11 };

describe('trainImplicitAls', () => {
  const x = plantedBlocks();

  it('never increases the implicit-feedback loss from one iteration to the next', () => {
    const losses = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((iterations) =>
      implicitAlsLoss(x, trainImplicitAls(x, { ...options, iterations }), options),
    );
    for (let t = 1; t < losses.length; t++)
      expect(losses[t]!).toBeLessThanOrEqual(losses[t - 1]! * (1 + 1e-12));
    expect(losses[losses.length - 1]!).toBeLessThan(losses[1]! * 0.99);
  });

  it('solves each half-step exactly: nudging any item factor after an iteration only raises the loss', () => {
    const model = trainImplicitAls(x, { ...options, iterations: 3 });
    const base = implicitAlsLoss(x, model, options);
    const random = seededRandom(5);
    for (let q = 0; q < model.itemFactors.length; q++) {
      const original = model.itemFactors[q]!;
      model.itemFactors[q] = original + (random() < 0.5 ? -1e-3 : 1e-3);
      expect(implicitAlsLoss(x, model, options)).toBeGreaterThan(base);
      model.itemFactors[q] = original;
    }
  });

  it('computes the loss of the brute-force sum over every user × item cell', () => {
    const model = trainImplicitAls(x, { ...options, iterations: 2 });
    const f = model.factors;
    let loss = 0;
    for (let u = 0; u < x.numUsers; u++) {
      for (let i = 0; i < x.numItems; i++) {
        let weight = 0;
        for (let q = x.userPtr[u]!; q < x.userPtr[u + 1]!; q++) if (x.itemIdx[q] === i) weight = x.weight[q]!;
        let s = 0;
        for (let m = 0; m < f; m++) s += model.userFactors[u * f + m]! * model.itemFactors[i * f + m]!;
        const preference = weight > 0 ? 1 : 0;
        loss += (1 + options.alpha * weight) * (preference - s) ** 2;
      }
    }
    for (const v of model.userFactors) loss += options.regularization * v * v;
    for (const v of model.itemFactors) loss += options.regularization * v * v;
    expect(implicitAlsLoss(x, model, options)).toBeCloseTo(loss, 8);
  });

  it('is deterministic for a seed', () => {
    expect(trainImplicitAls(x, options)).toEqual(trainImplicitAls(x, options));
  });
});

describe('alsNeighbors', () => {
  it('finds the neighbours of a planted block inside the block', () => {
    const x = plantedBlocks();
    const n = alsNeighbors(x, { ...options, k: 3, minSupport: 1, minScore: 0 });
    for (let item = 0; item < x.numItems; item++) {
      const { idx } = neighborsOf(n, item);
      expect(idx.length, `item ${item}`).toBeGreaterThan(0);
      for (const j of idx) expect(blockOf(j), `neighbour ${j} of item ${item}`).toBe(blockOf(item));
    }
  });

  it('only scores co-occurring pairs', () => {
    const x = toInteractions({
      numItems: 3,
      users: [
        new Map([
          [0, { item: 0, weight: 1, primary: false }],
          [1, { item: 1, weight: 1, primary: false }],
        ]),
        new Map([[2, { item: 2, weight: 1, primary: false }]]),
      ],
    });
    const n = alsNeighbors(x, { ...options, k: 5, minSupport: 1, minScore: -1 });
    expect([...neighborsOf(n, 2).idx]).toEqual([]);
    expect([...neighborsOf(n, 0).idx].every((j) => j === 1)).toBe(true);
  });
});
