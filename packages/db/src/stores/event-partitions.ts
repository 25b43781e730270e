import { ensureEventPartitionsAhead } from '../partitions';
import type { Pool } from '../pool';

/** The monthly partitions of the events table. */
export class EventPartitions {
  constructor(private readonly pool: Pool) {}

  /** Creates the partitions of this month and the next `monthsAhead` where missing. */
  ensureAhead(monthsAhead: number): Promise<void> {
    return ensureEventPartitionsAhead(this.pool, monthsAhead);
  }
}
