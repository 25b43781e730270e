import { describeOnEveryBackend } from './backends';
import { liveStateConformance } from './live-state.conformance';

describeOnEveryBackend('live state', 'cache-live-state', (backend) => liveStateConformance(backend));
