import { loadBuildConfig } from './config';
import { loadMovielens } from './datasets';
import { buildEvaluationModel, DEFAULT_SERVING_SETTINGS, evaluationSettingsFrom, servedRanking, splitDataset } from './evaluate';
const ds = await loadMovielens('../shared/data/movielens-100k/u.data');
const split = splitDataset(ds.events, { kind: 'leave-last-out', minDistinctItems: 3 });
for (const serving of [{}, { halfLifeMs: 6 * 3600000, maxAnchors: 50 }]) {
  const s = evaluationSettingsFrom(loadBuildConfig({ BUILD_ALGORITHM: 'swing' }), { ...DEFAULT_SERVING_SETTINGS, ...serving });
  const m = buildEvaluationModel(split.train, ds.itemCategories, s);
  let seen = 0, total = 0, hitsIfExcluded = 0;
  for (const c of split.cases) {
    const items = new Set(c.history.slice(-s.serving.historyLength).map((e) => e.itemId));
    const r = servedRanking(m, c, s.serving, 200);
    const top = r.slice(0, 10);
    total += top.length; seen += top.filter((i) => items.has(i)).length;
    if (r.filter((i) => !items.has(i)).slice(0, 10).includes(c.target)) hitsIfExcluded++;
  }
  console.log(JSON.stringify(serving), 'seen share in top10', (seen / total).toFixed(3), 'HR@10 if the history read is excluded', (hitsIfExcluded / split.cases.length).toFixed(4));
}
