import { listModelRuns, type ModelRun } from '../model-runs';
import type { Pool } from '../pool';

/** The record of model builds (the trainer writes it; the API lists it), in Postgres. */
export class ModelRunLog {
  constructor(private readonly pool: Pool) {}

  /** The newest `limit` runs, newest first. */
  list(limit: number): Promise<ModelRun[]> {
    return listModelRuns(this.pool, limit);
  }
}
