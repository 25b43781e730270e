export * from './client';
export * from './codec';
export * from './keys/index';
export * from './live-state';
export * from './model-store';
export * from './plugin';
export * from './push';
