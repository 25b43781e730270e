/** Growth of typed-array buffers by doubling, so appends stay amortised O(1) without object graphs. */

type NumericArray = Uint8Array | Int32Array | Uint32Array | Float64Array;

function grownLength(current: number, needed: number): number {
  let length = Math.max(current * 2, 1024);
  while (length < needed) length *= 2;
  return length;
}

export function ensureCapacity<T extends NumericArray>(array: T, needed: number): T {
  if (needed <= array.length) return array;
  const Ctor = array.constructor as new (length: number) => T;
  const grown = new Ctor(grownLength(array.length, needed));
  grown.set(array);
  return grown;
}
