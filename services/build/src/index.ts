export * from './config';
export * from './event-source';
export * from './job';
export * from './model';
