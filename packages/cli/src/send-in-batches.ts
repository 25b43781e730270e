/** Sends a stream in batches with a few requests in flight, as a storefront back end would. */
export async function sendInBatches<T>(
  items: Iterable<T>,
  batchSize: number,
  inFlight: number,
  send: (batch: T[]) => Promise<void>,
) {
  const pending = new Set<Promise<void>>();
  let batch: T[] = [];
  const flush = async () => {
    const p = send(batch).finally(() => pending.delete(p));
    batch = [];
    pending.add(p);
    if (pending.size >= inFlight) await Promise.race(pending);
  };
  for (const item of items) {
    batch.push(item);
    if (batch.length >= batchSize) await flush();
  }
  if (batch.length > 0) await flush();
  await Promise.all(pending);
}
