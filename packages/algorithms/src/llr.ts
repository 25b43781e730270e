import { itemUsers } from './cooccurrence';
import { NeighborsWriter, TopKHeap } from './top-k';
import type { Interactions, Neighbors } from './types';
import { type NeighborLimits, requireNeighborLimits } from './validate';

function xLogX(x: number): number {
  return x === 0 ? 0 : x * Math.log(x);
}

/** Shannon entropy (unnormalised) of counts, as in Mahout: xLogX(Σ) − Σ xLogX. */
function entropy4(a: number, b: number, c: number, d: number): number {
  return xLogX(a + b + c + d) - xLogX(a) - xLogX(b) - xLogX(c) - xLogX(d);
}

function entropy2(a: number, b: number): number {
  return xLogX(a + b) - xLogX(a) - xLogX(b);
}

/**
 * Dunning's log-likelihood ratio (G²) of a 2×2 contingency table, Mahout's `logLikelihoodRatio`:
 * k11 = both events, k12 = first without second, k21 = second without first, k22 = neither.
 */
export function logLikelihoodRatio(k11: number, k12: number, k21: number, k22: number): number {
  const rowEntropy = entropy2(k11 + k12, k21 + k22);
  const columnEntropy = entropy2(k11 + k21, k12 + k22);
  const matrixEntropy = entropy4(k11, k12, k21, k22);
  // Round-off can make the difference slightly negative for independent events.
  if (rowEntropy + columnEntropy < matrixEntropy) return 0;
  return 2 * (rowEntropy + columnEntropy - matrixEntropy);
}

/**
 * LLR of "user has A" vs "user has B" among `total` users, counted only when the two co-occur MORE than
 * independence predicts (k11·k22 > k12·k21). G² is unsigned, so without this a bestseller that co-occurs
 * less often than chance with the history item would score high; such pairs get 0.
 */
export function positiveLlr(both: number, countA: number, countB: number, total: number): number {
  const k11 = both;
  const k12 = countA - both;
  const k21 = countB - both;
  const k22 = total - countA - countB + both;
  if (k11 * k22 <= k12 * k21) return 0;
  return logLikelihoodRatio(k11, k12, k21, k22);
}

/**
 * Correlated cross-occurrence: the neighbours of a history item h are the items i worth recommending, scored
 * LLR(A_i, A_h) + LLR(A_i, B_h) over N = numUsers, where A = users who carted/purchased (`primary`) and
 * B = users with any interaction. Candidates must have primary users; support = |A_i ∩ B_h|.
 */
export function llrNeighbors(x: Interactions, opts: NeighborLimits): Neighbors {
  requireNeighborLimits(opts);
  const { numUsers, numItems, userPtr, itemIdx, primary } = x;
  const { itemPtr, userIdx, entry } = itemUsers(x);
  const primaryCount = new Uint32Array(numItems);
  const nnz = userPtr[numUsers]!;
  for (let q = 0; q < nnz; q++) if (primary[q] === 1) primaryCount[itemIdx[q]!]!++;

  const { k, minSupport, minScore } = opts;
  const withPrimaryH = new Uint32Array(numItems);
  const withAnyH = new Uint32Array(numItems);
  const touched = new Uint32Array(numItems);
  const heap = new TopKHeap(k);
  const writer = new NeighborsWriter(numItems, k);
  for (let h = 0; h < numItems; h++) {
    let touchedCount = 0;
    const start = itemPtr[h]!;
    const end = itemPtr[h + 1]!;
    for (let p = start; p < end; p++) {
      const u = userIdx[p]!;
      const userPrimaryOnH = primary[entry[p]!] === 1 ? 1 : 0;
      for (let q = userPtr[u]!, rowEnd = userPtr[u + 1]!; q < rowEnd; q++) {
        if (primary[q] !== 1) continue;
        const i = itemIdx[q]!;
        if (i === h) continue;
        if (withAnyH[i] === 0) touched[touchedCount++] = i;
        withAnyH[i]!++;
        withPrimaryH[i]! += userPrimaryOnH;
      }
    }
    const anyH = end - start;
    const primaryH = primaryCount[h]!;
    for (let t = 0; t < touchedCount; t++) {
      const i = touched[t]!;
      const support = withAnyH[i]!;
      if (support >= minSupport) {
        const primaryI = primaryCount[i]!;
        const score =
          positiveLlr(withPrimaryH[i]!, primaryI, primaryH, numUsers) +
          positiveLlr(support, primaryI, anyH, numUsers);
        if (score > 0 && score >= minScore) heap.push(i, score);
      }
      withAnyH[i] = 0;
      withPrimaryH[i] = 0;
    }
    writer.commit(heap);
  }
  return writer.finish();
}
