import { describe } from 'vitest';
import { apiKeyMirrorConformance } from './api-key-mirror.conformance';
import { describeOnEveryBackend } from './backends';
import { rateLimitCountersConformance } from './rate-limit-counters.conformance';

// The two stores behind the security plugin (keys/auth.ts), run in one file so the cluster run starts one cluster.
describeOnEveryBackend('API key mirror and rate-limit counters', 'cache-auth-stores', (backend) => {
  describe('API key mirror', () => apiKeyMirrorConformance(backend));
  describe('rate-limit counters', () => rateLimitCountersConformance(backend));
});
