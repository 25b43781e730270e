import type { ExperimentInput } from '@elevens/domain';
import {
  deleteExperiment,
  experimentsVersion,
  getExperiment,
  listExperiments,
  type PutExperimentResult,
  putExperiment,
  type StoredExperiment,
} from '../experiments';
import type { Pool } from '../pool';

/** The experiments and the set's version (every change bumps it), in Postgres. */
export class ExperimentStore {
  constructor(private readonly pool: Pool) {}

  version(): Promise<number> {
    return experimentsVersion(this.pool);
  }

  list(): Promise<StoredExperiment[]> {
    return listExperiments(this.pool);
  }

  get(id: string): Promise<StoredExperiment | null> {
    return getExperiment(this.pool, id);
  }

  /**
   * Creates or replaces experiment `id`, keeping its stored start when `input` gives no `from` (a new one starts at
   * `nowMs`); refused when `until` is not after that start, or when another shares its placement and window.
   */
  put(
    id: string,
    input: ExperimentInput,
    updatedBy: string | null,
    nowMs: number,
  ): Promise<PutExperimentResult> {
    return putExperiment(this.pool, id, input, updatedBy, nowMs);
  }

  /** The new set version, or null when there was no such experiment. */
  delete(id: string): Promise<number | null> {
    return deleteExperiment(this.pool, id);
  }
}
