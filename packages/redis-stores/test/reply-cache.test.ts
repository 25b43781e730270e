import { describeOnEveryBackend } from './backends';
import { replyCacheConformance } from './reply-cache.conformance';

describeOnEveryBackend('reply cache', 'cache-reply-cache', (backend, options) =>
  replyCacheConformance(backend, options),
);
