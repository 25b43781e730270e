export * from './app';
export * from './errors';
export * from './health';
export * from './logging';
export * from './route-config';
export * from './server';
