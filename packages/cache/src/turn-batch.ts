import type { ChainableCommander, Redis } from 'ioredis';

/** Commands a hot path sends through a TurnBatch (each a pipeline method of the same name). */
export type TurnBatchCommand = 'mget' | 'set' | 'elevensPushDecide';

interface QueuedCommand {
  command: TurnBatchCommand;
  args: readonly (string | number)[];
  resolve: (reply: unknown) => void;
  reject: (error: unknown) => void;
}

type PipelineMethod = (this: ChainableCommander, ...args: (string | number)[]) => ChainableCommander;

/**
 * Sends the commands queued during one event-loop turn (every request whose data arrived in the same poll) to
 * Redis as one pipeline: one socket write and one read for all of them. ioredis auto-pipelining flushes at the end
 * of each tick, which under HTTP load is about one request, and on this path a socket write costs the process
 * more CPU than the request's own code (docs/benchmarks.md). Each command still runs on its own in Redis.
 * Batches reach Redis in the order of their turns, but not in order with the client's auto-pipelined commands
 * (ioredis holds those while an earlier auto-pipeline is in flight): commands that must follow each other go
 * through the same channel.
 */
export class TurnBatch {
  private queue: QueuedCommand[] = [];

  constructor(private readonly redis: Redis) {}

  send(command: TurnBatchCommand, args: readonly (string | number)[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) setImmediate(this.flush);
      this.queue.push({ command, args, resolve, reject });
    });
  }

  private readonly flush = () => {
    const batch = this.queue;
    this.queue = [];
    const pipeline = this.redis.pipeline();
    for (const { command, args } of batch)
      (pipeline[command] as PipelineMethod).apply(pipeline, args as (string | number)[]);
    pipeline.exec().then(
      (results) => {
        for (const [i, queued] of batch.entries()) {
          const [error, reply] = results?.[i] ?? [new Error('pipeline aborted'), null];
          if (error) queued.reject(error);
          else queued.resolve(reply);
        }
      },
      (error: unknown) => {
        for (const queued of batch) queued.reject(error);
      },
    );
  };
}
