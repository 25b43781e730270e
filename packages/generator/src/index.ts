export {
  buildCatalogLayout,
  type CatalogLayout,
  categoryNameOf,
  GENERATED_ITEMS_CSV_HEADER,
  type GeneratedCategory,
  type GeneratedItem,
  generateCatalog,
  generateCategories,
  generatedItemToCsv,
} from './catalog';
export {
  GENERATED_EVENT_TYPES,
  GENERATED_EVENTS_CSV_HEADER,
  type GeneratedEvent,
  type GeneratedEventType,
  generatedEventToCsv,
  generateEvents,
} from './events';
export {
  type CatalogOptions,
  categoryIdOf,
  type GeneratorOptions,
  itemIdOf,
  type ResolvedGeneratorOptions,
  resolveGeneratorOptions,
  userIdOf,
} from './options';
export { createRng, type Rng } from './rng';
export {
  type AliasTable,
  buildAliasTable,
  createZipfSampler,
  type Sampler,
  sampleAlias,
  zipfWeights,
} from './sampling';
