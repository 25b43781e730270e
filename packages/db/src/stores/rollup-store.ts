import { type MonitorTotals, readMonitorTotals } from '../monitor';
import type { Pool } from '../pool';
import { type RollupGroupCounts, type RollupQuery, readRollupGroups } from '../reports';
import { rollupWatermark } from '../rollups';

/** The attribution roll-ups (hourly counters per answer dimension) as reports and the live monitor read them. */
export class RollupStore {
  constructor(private readonly pool: Pool) {}

  /** The roll-ups of the hours starting in [fromMs, toMs), summed per group. */
  groups(query: RollupQuery): Promise<RollupGroupCounts[]> {
    return readRollupGroups(this.pool, query);
  }

  /** Every event received before this instant is in the roll-ups; null before the worker's first step. */
  watermark(): Promise<Date | null> {
    return rollupWatermark(this.pool);
  }

  /** Per-hour totals of the hours starting in [fromMs, toMs) and the watermark, in one round trip. */
  monitorTotals(fromMs: number, toMs: number): Promise<MonitorTotals> {
    return readMonitorTotals(this.pool, fromMs, toMs);
  }
}
