import { itemUsers } from './cooccurrence';
import { ensureCapacity } from './growable';
import { seededSamplePositions } from './sampling';
import { NeighborsWriter, TopKHeap } from './top-k';
import type { Interactions, Neighbors } from './types';
import { type NeighborLimits, requireFinite, requireInteger, requireNeighborLimits } from './validate';

/** Keeps the pair triangle (p·(p−1)/2 counters of 4 bytes) within about 512 MiB. */
export const MAX_SWING_USERS_PER_ITEM = 16384;

export interface SwingOptions extends NeighborLimits {
  /** smoothing added to a user's item count in the user weight (|I_u| + alpha1)^−beta */
  alpha1: number;
  /** smoothing added to |I_u ∩ I_v| in the pair weight's denominator */
  alpha2: number;
  /** exponent of the user-activity penalty */
  beta: number;
  /** at most this many users of a target item take part in pairs (a seeded sample when it has more) */
  maxUsersPerItem: number;
  /** seed of that sample (an integer; its low 32 bits are used); default 0 */
  seed?: number;
}

/**
 * Users of `item` that take part in swing pairs: all of them, or the `maxUsers` with the smallest
 * `seededHash(seed, item, user)` when there are more. Returned ascending.
 */
function swingParticipants(
  users: Uint32Array,
  from: number,
  to: number,
  maxUsers: number,
  seed: number,
  item: number,
): Uint32Array {
  if (to - from <= maxUsers) return users.subarray(from, to);
  const positions = seededSamplePositions(users, from, to, maxUsers, seed, item);
  const sampled = new Uint32Array(positions.length);
  for (let a = 0; a < positions.length; a++) sampled[a] = users[positions[a]!]!;
  return sampled;
}

/**
 * Swing (Yang et al., Alibaba 2020): w(i,j) = Σ over user pairs u<v in U_i ∩ U_j of
 * (|I_u|+α1)^−β·(|I_v|+α1)^−β / (α2 + |I_u ∩ I_v|), on binary item sets.
 *
 * Per target i with participants P (|P| = p ≤ maxUsersPerItem), the items of P are inverted into lists L_j of
 * participant slots (ascending). |I_u ∩ I_v| for every participant pair is counted from those lists into a
 * p·(p−1)/2 triangle (+1 for i itself), and a second pass over the lists sums the pair weights. Work per
 * target is Σ_j |L_j|², exactly the (pair, shared item) triples swing needs, with no per-pair list merging.
 * Support = |P ∩ U_j|.
 */
export function swingNeighbors(x: Interactions, opts: SwingOptions): Neighbors {
  requireNeighborLimits(opts);
  requireFinite('alpha1', opts.alpha1, 0);
  requireFinite('alpha2', opts.alpha2, 0);
  requireFinite('beta', opts.beta, 0);
  requireInteger('maxUsersPerItem', opts.maxUsersPerItem, 2);
  if (opts.maxUsersPerItem > MAX_SWING_USERS_PER_ITEM) {
    throw new RangeError(`maxUsersPerItem must be <= ${MAX_SWING_USERS_PER_ITEM}`);
  }
  const { numUsers, numItems, userPtr, itemIdx } = x;
  const { k, minSupport, minScore, alpha1, alpha2, beta, maxUsersPerItem } = opts;
  const seed = opts.seed ?? 0;
  requireInteger('seed', seed, Number.MIN_SAFE_INTEGER);

  const userWeight = new Float64Array(numUsers);
  for (let u = 0; u < numUsers; u++) userWeight[u] = (userPtr[u + 1]! - userPtr[u]! + alpha1) ** -beta;

  const { itemPtr, userIdx } = itemUsers(x);
  let maxParticipants = 0;
  for (let i = 0; i < numItems; i++) {
    maxParticipants = Math.max(maxParticipants, Math.min(itemPtr[i + 1]! - itemPtr[i]!, maxUsersPerItem));
  }
  // Per-participant scratch, and the pair triangle holding |I_u ∩ I_v| − 1.
  const slotWeight = new Float64Array(maxParticipants);
  const rowBase = new Int32Array(maxParticipants);
  const shared = new Uint32Array((maxParticipants * (maxParticipants - 1)) / 2);
  // Per-candidate scratch: list length, then list start into `slots`.
  const listLength = new Uint32Array(numItems);
  const listStart = new Uint32Array(numItems);
  const listFill = new Uint32Array(numItems);
  const touched = new Uint32Array(numItems);
  let slots = new Uint32Array(1024);

  const heap = new TopKHeap(k);
  const writer = new NeighborsWriter(numItems, k);
  for (let i = 0; i < numItems; i++) {
    const participants = swingParticipants(userIdx, itemPtr[i]!, itemPtr[i + 1]!, maxUsersPerItem, seed, i);
    const p = participants.length;
    if (p < 2) {
      writer.commit(heap);
      continue;
    }
    let touchedCount = 0;
    let totalSlots = 0;
    for (let a = 0; a < p; a++) {
      const u = participants[a]!;
      slotWeight[a] = userWeight[u]!;
      rowBase[a] = (a * (2 * p - a - 1)) / 2 - a - 1;
      for (let q = userPtr[u]!, end = userPtr[u + 1]!; q < end; q++) {
        const j = itemIdx[q]!;
        if (j === i) continue;
        if (listLength[j] === 0) touched[touchedCount++] = j;
        listLength[j]!++;
        totalSlots++;
      }
    }
    slots = ensureCapacity(slots, totalSlots);
    let offset = 0;
    for (let t = 0; t < touchedCount; t++) {
      const j = touched[t]!;
      listStart[j] = offset;
      listFill[j] = offset;
      offset += listLength[j]!;
    }
    for (let a = 0; a < p; a++) {
      const u = participants[a]!;
      for (let q = userPtr[u]!, end = userPtr[u + 1]!; q < end; q++) {
        const j = itemIdx[q]!;
        if (j !== i) slots[listFill[j]!++] = a;
      }
    }
    shared.fill(0, 0, (p * (p - 1)) / 2);
    for (let t = 0; t < touchedCount; t++) {
      const j = touched[t]!;
      const start = listStart[j]!;
      const end = start + listLength[j]!;
      for (let s = start; s < end - 1; s++) {
        const base = rowBase[slots[s]!]!;
        for (let r = s + 1; r < end; r++) shared[base + slots[r]!]!++;
      }
    }
    const denominatorBase = alpha2 + 1;
    for (let t = 0; t < touchedCount; t++) {
      const j = touched[t]!;
      const support = listLength[j]!;
      listLength[j] = 0;
      if (support < 2 || support < minSupport) continue;
      const start = listStart[j]!;
      const end = start + support;
      let score = 0;
      for (let s = start; s < end - 1; s++) {
        const a = slots[s]!;
        const base = rowBase[a]!;
        const wa = slotWeight[a]!;
        for (let r = s + 1; r < end; r++) {
          const b = slots[r]!;
          score += (wa * slotWeight[b]!) / (denominatorBase + shared[base + b]!);
        }
      }
      if (score > 0 && score >= minScore) heap.push(j, score);
    }
    writer.commit(heap);
  }
  return writer.finish();
}
