export * from './auth';
export * from './catalog';
export * from './errors';
export * from './events';
export * from './ids';
export * from './recommendations';
export * from './users';
