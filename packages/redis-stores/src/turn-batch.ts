import { createHash } from 'node:crypto';
import { Cluster, Command } from 'ioredis';
import { type RedisClient, scriptCall } from './client';
import { luaSource } from './lua-source';

/** A Lua script of this directory's lua/, with the SHA Redis knows it by. */
export class LuaScript {
  readonly lua: string;
  readonly sha: string;

  constructor(name: string) {
    this.lua = luaSource(name);
    this.sha = createHash('sha1').update(this.lua).digest('hex');
  }
}

/** Replies as text, as ioredis's own commands give them (a Command left to its default gives Buffers). */
const TEXT_REPLIES = { replyEncoding: 'utf8' } as const;

/**
 * An EVALSHA of `script` with `args` (its key count first) that goes again by its text (EVAL) when Redis does not
 * hold it; its promise settles with the reply. A Command, not a spread call: a group's arguments can outnumber
 * what a call takes.
 */
export function scriptCommand(redis: RedisClient, script: LuaScript, args: (string | number)[]): Command {
  const command = new Command('evalsha', [script.sha, ...args], TEXT_REPLIES);
  command.promise = command.promise.catch((error: unknown) => {
    if (!String(error).includes('NOSCRIPT')) throw error;
    const byText = new Command('eval', [script.lua, ...args], TEXT_REPLIES);
    redis.sendCommand(byText);
    return byText.promise;
  });
  return command;
}

/**
 * A script a TurnBatch runs by its SHA (EVALSHA), and by its text (EVAL) when Redis does not hold it. For scripts
 * only hot paths run: the client's registered scripts are in client.ts.
 */
export class BatchScript extends LuaScript {
  constructor(
    name: string,
    readonly numberOfKeys: number,
  ) {
    super(name);
  }
}

/** Commands a hot path sends through a TurnBatch: plain ones, the push decision script, or a BatchScript. */
export type TurnBatchCommand = 'mget' | 'elevensPushDecide' | BatchScript;

const decideScript = scriptCall('elevensPushDecide');

/** The script a command runs (its SHA and key count), or null for a plain command. */
const scriptOf = (command: TurnBatchCommand) =>
  command === 'elevensPushDecide' ? decideScript : command instanceof BatchScript ? command : null;

/** The command as written to Redis: a script by its SHA (EVALSHA), with its key count. */
function commandOf(command: TurnBatchCommand, args: readonly (string | number)[]): Command {
  const script = scriptOf(command);
  if (script !== null)
    return new Command('evalsha', [script.sha, script.numberOfKeys, ...args], { replyEncoding: 'utf8' });
  return new Command(command as string, args as (string | number)[], { replyEncoding: 'utf8' });
}

/**
 * Sends the commands queued during one event-loop turn (every request whose data arrived in the same poll) to
 * Redis in one socket write: the client's socket is corked while they are written. ioredis auto-pipelining
 * flushes at the end of each tick, which under HTTP load is about one request, and on this path a socket write
 * costs the process more CPU than the request's own code (docs/benchmarks.md). Each command still runs on its own
 * in Redis and is answered on its own.
 * The commands are written with `sendCommand`, not through an ioredis pipeline: each pipeline object (its
 * promise, queue and results) outlived enough scavenges under load to be promoted, which made the young-generation
 * collections of a decision several times those of a plain request.
 * Batches reach Redis in the order of their turns, but not in order with the client's auto-pipelined commands
 * (ioredis holds those while an earlier auto-pipeline is in flight): commands that must follow each other go
 * through the same channel.
 * On a Redis Cluster the client routes each command to the node of its keys' slot (every command's keys share a
 * slot: one user's keys), and every master's socket is corked for the turn, so each node gets one write.
 */
export class TurnBatch {
  private queue: Command[] = [];

  constructor(private readonly redis: RedisClient) {}

  /** The command is made now and written at the end of the turn: its own promise answers, no other is made. */
  send(command: TurnBatchCommand, args: readonly (string | number)[]): Promise<unknown> {
    const written = commandOf(command, args);
    if (this.queue.length === 0) setImmediate(this.flush);
    this.queue.push(written);
    return written.promise.catch((error: unknown) => this.retry(command, args, error));
  }

  private readonly flush = () => {
    const batch = this.queue;
    this.queue = [];
    const { redis } = this;
    const streams = this.connectedStreams();
    for (const stream of streams) stream.cork();
    try {
      for (const command of batch) redis.sendCommand(command);
    } finally {
      for (const stream of streams) stream.uncork();
    }
  };

  /** The sockets commands are written to now: the server's, or each cluster master's; none while disconnected. */
  private connectedStreams() {
    const { redis } = this;
    if (redis.status !== 'ready') return [];
    const servers = redis instanceof Cluster ? redis.nodes('master') : [redis];
    return servers.filter((server) => server.status === 'ready').map((server) => server.stream);
  }

  /** A script Redis no longer holds (restarted, flushed) goes again by the client's EVALSHA-then-EVAL path. */
  private retry(
    command: TurnBatchCommand,
    args: readonly (string | number)[],
    error: unknown,
  ): Promise<unknown> {
    if (scriptOf(command) === null || !String(error).includes('NOSCRIPT')) return Promise.reject(error);
    // EVAL also makes Redis hold the script again, so the next EVALSHA finds it.
    if (command instanceof BatchScript) return this.redis.eval(command.lua, command.numberOfKeys, ...args);
    const [profileKey, sendsKey, historyKey, ...argv] = args as string[];
    return this.redis.elevensPushDecide(profileKey!, sendsKey!, historyKey!, ...argv);
  }
}
