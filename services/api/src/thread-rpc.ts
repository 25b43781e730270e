/** The side of a channel between two threads: a `Worker` in the primary, `parentPort` in a worker. */
export interface ThreadPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
}

type RpcMessage =
  | { call: string; id: number; args: unknown }
  | { reply: number; value?: unknown; error?: string }
  | { notify: string; args: unknown };

export type RpcHandlers = Record<string, (args: never) => unknown>;

/**
 * Calls between two threads over one port: `call` waits for the other side's handler to answer (a thrown error
 * comes back as one), `notify` does not. Messages are structured clones: typed arrays over a SharedArrayBuffer
 * arrive as views of the same memory.
 */
export class ThreadRpc {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private failure: string | null = null;

  constructor(
    private readonly port: ThreadPort,
    handlers: RpcHandlers,
  ) {
    const handlerOf = (name: string) =>
      Object.hasOwn(handlers, name) ? (handlers[name] as (args: unknown) => unknown) : undefined;
    port.on('message', (raw) => {
      const message = raw as RpcMessage;
      if ('reply' in message) {
        const waiter = this.waiting.get(message.reply);
        this.waiting.delete(message.reply);
        if (message.error !== undefined) waiter?.reject(new Error(message.error));
        else waiter?.resolve(message.value);
      } else if ('call' in message) {
        const handler = handlerOf(message.call);
        Promise.resolve()
          .then(() => {
            if (!handler) throw new Error(`no handler for ${message.call}`);
            return handler(message.args);
          })
          .then(
            (value) => this.port.postMessage({ reply: message.id, value }),
            (error: unknown) =>
              this.port.postMessage({
                reply: message.id,
                error: error instanceof Error ? error.message : String(error),
              }),
          );
      } else if ('notify' in message) {
        handlerOf(message.notify)?.(message.args);
      }
    });
  }

  /**
   * Runs the other side's handler `method` with `args`; rejects with its error, when the other side is gone, or,
   * given `timeoutMs`, once that long has passed without an answer (a thread whose event loop is stuck never
   * answers; a late answer is dropped).
   */
  call<T>(method: string, args?: unknown, timeoutMs?: number): Promise<T> {
    if (this.failure !== null) return Promise.reject(new Error(this.failure));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.waiting.delete(id);
              reject(new Error(`${method} was not answered within ${timeoutMs} ms`));
            }, timeoutMs).unref();
      this.waiting.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.port.postMessage({ call: method, id, args });
    });
  }

  /** Runs the other side's handler `method` with `args`, without waiting for it. */
  notify(method: string, args?: unknown): void {
    if (this.failure === null) this.port.postMessage({ notify: method, args });
  }

  /** The other side is gone: every call waiting and every later one fails with `reason`. */
  fail(reason: string): void {
    this.failure = reason;
    for (const waiter of this.waiting.values()) waiter.reject(new Error(reason));
    this.waiting.clear();
  }
}
