export * from './client';
export * from './errors';
export type { RetryPolicy } from './transport';
export * from './types';
