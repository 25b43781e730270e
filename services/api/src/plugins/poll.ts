import type { FastifyInstance } from 'fastify';

/**
 * Runs `task` now and then every `intervalMs`, a failure logged as a warning `failure`; a run still going when
 * the next is due is not doubled. The first run is awaited by the plugin's registration, or, with `firstRunBy:
 * 'ready'`, by the app's onReady (for a first run that may outlast Fastify's plugin timeout, such as loading a
 * whole model: the app still starts serving only once it is done). Closing the app stops the timer and waits for
 * the run under way: the hook is added after the Redis and Postgres plugins', so it runs before they disconnect,
 * and no run fails on a client closed under it.
 */
export async function pollEvery(
  app: FastifyInstance,
  intervalMs: number,
  failure: string,
  task: () => Promise<void>,
  { firstRunBy = 'registration' }: { firstRunBy?: 'registration' | 'ready' } = {},
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
  const first = run();
  if (firstRunBy === 'ready')
    app.addHook('onReady', async () => {
      await first;
    });
  else await first;
  const timer = setInterval(run, intervalMs);
  timer.unref();
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await running;
  });
}
