export * from './config';
export * from './datasets';
export * from './evaluate';
export * from './event-source';
export * from './job';
export * from './model';
export * from './quality-gate';
export * from './settings';
