import type { ApiScope } from '@elevens/domain';
import type { BuildAlgorithm, DatasetName } from '@elevens/trainer';

// The lists the registrations offer as choices and in help. Those another package owns are written out: importing
// them would load that package (zod's schemas, the trainer) on every start of the CLI;
// packages/cli/test/registration.test.ts checks that each equals its owner's, in order.

/** @elevens/domain's API_SCOPES */
export const API_SCOPES = [
  'recommendations:read',
  'events:write',
  'push:decide',
  'admin',
] as const satisfies readonly ApiScope[];

/** @elevens/trainer's BUILD_ALGORITHMS */
export const BUILD_ALGORITHMS = [
  'cosine',
  'jaccard',
  'llr',
  'swing',
  'als',
  'ease',
] as const satisfies readonly BuildAlgorithm[];

/** @elevens/trainer's DATASET_NAMES */
export const DATASET_NAMES = ['movielens', 'taobao', 'postgres'] as const satisfies readonly DatasetName[];

/** @elevens/redis-stores' DEFAULT_MODEL_LINE */
export const DEFAULT_MODEL_LINE = 'default';

/** The event file formats `elevens import` reads. */
export const IMPORT_FORMATS = ['taobao', 'movielens', 'csv'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];
