import { describeOnEveryBackend } from './backends';
import { modelStoreConformance } from './model-store.conformance';

describeOnEveryBackend('model store', 'model-store', (backend, options) =>
  modelStoreConformance(backend, options),
);
