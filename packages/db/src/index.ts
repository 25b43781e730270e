export * from './catalog';
export * from './events';
export * from './migrate';
export * from './model-runs';
export * from './plugin';
export * from './pool';
export * from './users';
