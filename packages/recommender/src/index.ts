export * from './history';
export * from './rank';
export * from './recommend';
export * from './rules';
export * from './serving-defaults';
export * from './types';
