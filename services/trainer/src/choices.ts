// Imports nothing: the CLI offers these as choices on every start without loading zod or the trainer.

/** The similarity algorithms a build may use (BUILD_ALGORITHM, `--algorithm`). */
export const BUILD_ALGORITHMS = ['cosine', 'jaccard', 'llr', 'swing', 'als', 'ease'] as const;

/** The datasets offline evaluation reads (`elevens evaluate --dataset`). */
export const DATASET_NAMES = ['movielens', 'taobao', 'postgres'] as const;
