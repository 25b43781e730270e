export * from './app';
export * from './config';
// The decorators of buildApiApp's instance (app.model, app.catalog, …) are fastify module augmentations in these
// modules: exporting a type of each puts them in this package's declarations for every importer.
export type { ServedBoostRules } from './plugins/boost-rules';
export type { ServedCatalog } from './plugins/catalog';
export type { ServedModel } from './plugins/model';
export type { ServedPushConfig } from './plugins/push-rules';
export type { RecommendationServiceSettings } from './recommendations-service';
export * from './server';
