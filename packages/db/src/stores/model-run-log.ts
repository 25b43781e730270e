import { listModelRuns, type ModelRun, type ModelRunFilter } from '../model-runs';
import type { Pool } from '../pool';

/** The record of model builds (the trainer writes it; the API lists it), in Postgres. */
export class ModelRunLog {
  constructor(private readonly pool: Pool) {}

  /** The newest `limit` runs (of `filter`'s key prefix and model line), newest first. */
  list(limit: number, filter: ModelRunFilter = {}): Promise<ModelRun[]> {
    return listModelRuns(this.pool, limit, filter);
  }
}
