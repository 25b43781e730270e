export * from './decider';
export * from './decision';
export * from './quiet-hours';
export * from './retry';
export * from './rules';
export * from './types';
export * from './window';
