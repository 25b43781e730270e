/** Argument checks shared by the algorithms: bad options fail loudly instead of producing silent garbage. */

export function requireInteger(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${value}`);
  }
}

export function requireFinite(name: string, value: number, min: number): void {
  if (!Number.isFinite(value) || value < min) {
    throw new RangeError(`${name} must be a finite number >= ${min}, got ${value}`);
  }
}

export function requirePositive(name: string, value: number): void {
  if (Number.isNaN(value) || value <= 0) {
    throw new RangeError(`${name} must be > 0, got ${value}`);
  }
}

export interface NeighborLimits {
  /** neighbours kept per item */
  k: number;
  /** minimum number of co-occurring users (or baskets) for a pair to be scored */
  minSupport: number;
  /** pairs scoring below this are dropped (pairs scoring <= 0 are always dropped) */
  minScore: number;
}

export function requireNeighborLimits(opts: NeighborLimits): void {
  requireInteger('k', opts.k, 0);
  requireInteger('minSupport', opts.minSupport, 1);
  if (Number.isNaN(opts.minScore)) throw new RangeError('minScore must be a number');
}
