import { DEFAULT_SIMILARITY_PARAMS } from '@elevens/algorithms';
import { loadBuildConfig } from './config';
import { loadMovielens, loadTaobao } from './datasets';
import {
  buildEvaluationModel,
  DEFAULT_SERVING_SETTINGS,
  evaluateModel,
  evaluationSettingsFrom,
  splitDataset,
} from './evaluate';

const which = process.argv[2] ?? 'movielens';
const t0 = performance.now();
const ds =
  which === 'movielens'
    ? await loadMovielens('../shared/data/movielens-100k/u.data')
    : await loadTaobao('../shared/data/taobao-userbehavior-2h/UserBehavior.csv');
const split = splitDataset(
  ds.events,
  which === 'movielens'
    ? { kind: 'leave-last-out', minDistinctItems: 3 }
    : { kind: 'next-event', minEvents: 2 },
);
console.log(
  'loaded',
  ds.events.length,
  'cases',
  split.cases.length,
  ((performance.now() - t0) / 1000).toFixed(1),
);
const configs = JSON.parse(process.argv[3] ?? '[{}]') as Record<string, any>[];
for (const c of configs) {
  const base = evaluationSettingsFrom(loadBuildConfig({ BUILD_ALGORITHM: c.algorithm ?? 'cosine' }), {
    ...DEFAULT_SERVING_SETTINGS,
  });
  const s = {
    interactions: { ...base.interactions, ...(c.interactions ?? {}) },
    model: { ...base.model, similarity: { ...base.model.similarity, ...(c.similarity ?? {}) } },
    serving: { ...base.serving, ...(c.serving ?? {}) },
  };
  const t = performance.now();
  const model = buildEvaluationModel(split.train, ds.itemCategories, s);
  const r = evaluateModel(model, split, s.serving);
  const f = (m: any) =>
    `hr ${m.hr10.toFixed(4)} ndcg ${m.ndcg10.toFixed(4)} rec20 ${m.recall20.toFixed(4)} mrr ${m.mrr10.toFixed(4)} cov ${m.coverage10.toFixed(3)} n ${m.users}`;
  console.log(
    JSON.stringify(c),
    '|',
    f(r.model),
    '| pop',
    f(r.popularity),
    ((performance.now() - t) / 1000).toFixed(1) + 's',
  );
}
void DEFAULT_SIMILARITY_PARAMS;
