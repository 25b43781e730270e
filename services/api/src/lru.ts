/**
 * An approximately least-recently-used map bounded by entry count, in two generations: entries live in `young`
 * until it holds half the capacity, then `young` becomes `old` and the previous `old` is dropped. A hit in
 * `young` is one Map lookup (an exact LRU re-inserts on every hit, which costs a delete and a set on a map of
 * hundreds of thousands of entries); a hit in `old` moves the entry to `young`. Whatever was used within the
 * last half-capacity insertions survives.
 */
export class LruCache<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private readonly generationSize: number;

  constructor(capacity: number) {
    this.generationSize = Math.floor(capacity / 2);
  }

  get(key: K): V | undefined {
    const hit = this.young.get(key);
    if (hit !== undefined) return hit;
    const aged = this.old.get(key);
    if (aged !== undefined) {
      this.old.delete(key);
      this.insert(key, aged);
    }
    return aged;
  }

  set(key: K, value: V): void {
    if (this.generationSize <= 0) return;
    this.old.delete(key);
    this.insert(key, value);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  private insert(key: K, value: V): void {
    if (!this.young.has(key) && this.young.size >= this.generationSize) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
  }
}
