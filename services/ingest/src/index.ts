export * from './app';
export * from './config';
export * from './group-commit';
// buildIngestApp's app.eventWriter is a fastify module augmentation there: this export puts it in the
// declarations of this package for every importer.
export type { EventWriterOptions } from './plugins/event-writer';
export * from './rebuild-live-state';
export * from './server';
