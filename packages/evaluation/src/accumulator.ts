import { hitRateAtK, mrrAtK, ndcgAtK, type RankedList, recallAtK } from './metrics';

/** Mean metrics over evaluated users; coverage10 is the catalog share reached by all top-10 lists together. */
export interface MetricSummary {
  users: number;
  hr10: number;
  ndcg10: number;
  recall20: number;
  mrr10: number;
  coverage10: number;
}

/**
 * Running sums of the per-user metrics. HR, NDCG and MRR are scored against the case's target, recall
 * against its whole held-out set; coverage keeps the distinct items of every top-10 list (O(catalog)).
 */
export class MetricAccumulator<T = string> {
  private readonly catalogSize: number;
  private users = 0;
  private hr10 = 0;
  private ndcg10 = 0;
  private recall20 = 0;
  private mrr10 = 0;
  private readonly coveredTop10 = new Set<T>();

  constructor(catalogSize: number) {
    if (!Number.isInteger(catalogSize) || catalogSize < 0) {
      throw new RangeError(`catalogSize must be a non-negative integer, got ${catalogSize}`);
    }
    this.catalogSize = catalogSize;
  }

  add(ranked: RankedList<T>, target: T, heldOut: ReadonlySet<T>): void {
    this.users++;
    this.hr10 += hitRateAtK(ranked, target, 10);
    this.ndcg10 += ndcgAtK(ranked, target, 10);
    this.mrr10 += mrrAtK(ranked, target, 10);
    this.recall20 += recallAtK(ranked, heldOut, 20);
    const limit = Math.min(10, ranked.length);
    for (let i = 0; i < limit; i++) this.coveredTop10.add(ranked[i]!);
  }

  summary(): MetricSummary {
    const n = this.users;
    const mean = (sum: number) => (n === 0 ? 0 : sum / n);
    return {
      users: n,
      hr10: mean(this.hr10),
      ndcg10: mean(this.ndcg10),
      recall20: mean(this.recall20),
      mrr10: mean(this.mrr10),
      coverage10: this.catalogSize === 0 ? 0 : this.coveredTop10.size / this.catalogSize,
    };
  }
}
