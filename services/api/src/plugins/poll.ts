import type { FastifyInstance } from 'fastify';

/**
 * Runs `task` now and then every `intervalMs`, a failure logged as a warning `failure`; a run still going when
 * the next is due is not doubled. Closing the app stops the timer and waits for the run under way: the hook is
 * added after the Redis and Postgres plugins', so it runs before they disconnect, and no run fails on a client
 * closed under it.
 */
export async function pollEvery(
  app: FastifyInstance,
  intervalMs: number,
  failure: string,
  task: () => Promise<void>,
): Promise<void> {
  let running: Promise<void> | null = null;
  const run = () => {
    running ??= task()
      .catch((error: unknown) => app.log.warn({ err: error }, failure))
      .finally(() => {
        running = null;
      });
    return running;
  };
  await run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await running;
  });
}
