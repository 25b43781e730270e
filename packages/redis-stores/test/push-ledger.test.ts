import { describeOnEveryBackend } from './backends';
import { pushLedgerConformance } from './push-ledger.conformance';

describeOnEveryBackend('push ledger', 'cache-push-ledger', (backend, { cluster }) =>
  pushLedgerConformance(backend, { turnBatch: true, cluster }),
);
