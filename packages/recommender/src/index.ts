export * from './history';
export * from './recommend';
export * from './types';
