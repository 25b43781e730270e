import { describeOnEveryBackend } from './backends';
import { servingCopiesConformance } from './serving-copies.conformance';

describeOnEveryBackend('serving copies', 'cache-serving-copies', (backend) =>
  servingCopiesConformance(backend),
);
