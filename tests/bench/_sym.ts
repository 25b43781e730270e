import { scoreCoOccurringPairs } from '@elevens/algorithms';
const numUsers = 600_000, numItems = 200_000;
let s = 1;
const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
const userPtr = new Uint32Array(numUsers + 1); const idx: number[] = [];
for (let u = 0; u < numUsers; u++) {
  const n = 1 + Math.floor(-Math.log(1 - rnd()) * 10);
  const set = new Set<number>();
  for (let t = 0; t < n; t++) set.add(Math.floor(numItems * rnd() ** 3));
  const row = [...set].sort((a, b) => a - b); idx.push(...row); userPtr[u + 1] = idx.length;
}
const x = { numUsers, numItems, userPtr, itemIdx: Uint32Array.from(idx), weight: new Float64Array(idx.length).fill(1) };
const norms = new Float64Array(numItems).fill(1);
console.log('nnz', idx.length);
for (const sym of [false, true, false, true]) {
  const c = process.cpuUsage(); const t = performance.now();
  const n = scoreCoOccurringPairs(x, { k: 50, minSupport: 2, minScore: 0 }, (i, j, _s, d) => d / (norms[i]! * norms[j]!), sym);
  const cpu = process.cpuUsage(c);
  console.log(sym ? 'symmetric' : 'one-sided', ((performance.now() - t) / 1000).toFixed(2), 'wall', (cpu.user / 1e6).toFixed(2), 'cpu', n.idx.length);
}
