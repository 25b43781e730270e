export * from './history';
export * from './item-table';
export * from './rank';
export * from './recommend';
export * from './rules';
export * from './serving-defaults';
export * from './serving-env';
export * from './types';
