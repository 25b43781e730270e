export * from './app';
export * from './config';
export * from './group-commit';
export * from './rebuild-live-state';
export * from './server';
