// The lists the registrations offer as choices and in help, from their owners' subpaths that import nothing: the
// packages' indexes would load zod's schemas, the trainer or ioredis on every start of the CLI.
export { API_SCOPES } from '@elevens/domain/scopes';
export { DEFAULT_MODEL_LINE } from '@elevens/redis-stores/model-line';
export { BUILD_ALGORITHMS, DATASET_NAMES } from '@elevens/trainer/choices';

/** The event file formats `elevens import` reads. */
export const IMPORT_FORMATS = ['taobao', 'movielens', 'csv'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];
