export * from './client';
export * from './errors';
export { parseRetryAfter } from './retry-after';
export type { RetryPolicy } from './transport';
export * from './types';
