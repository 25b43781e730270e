import { threadId } from 'node:worker_threads';
import type { MetricsJson, OtherThreadsMetrics } from '@elevens/http';
import type { ModelListKind as ListKind, ModelLists, ModelStore } from '@elevens/redis-stores';
import { type RpcHandlers, type ThreadPort, ThreadRpc } from './thread-rpc';

/**
 * What one thread of a multi-threaded API (API_THREADS > 1) shares with the others. Every thread runs the whole
 * app on one port (SO_REUSEPORT: the kernel spreads the connections) and polls and switches model versions on its
 * own, as separate processes would; the model's lists, most of its memory, are loaded once into shared memory by
 * the primary thread (server.ts's), and /metrics and the dashboard count every thread's requests.
 */
export interface ApiThreadLink {
  readonly role: 'primary' | 'worker';
  /**
   * `version`'s lists of `kind` in memory every thread reads (SharedArrayBuffers): the first thread to ask has
   * them loaded, the others get the same arrays. `load` loads them into shared memory for this thread.
   */
  sharedLists(
    line: string,
    version: string,
    kind: ListKind,
    load: () => Promise<ModelLists>,
  ): Promise<ModelLists>;
  /** After each poll: every version this thread holds now; a version no thread holds is let go. */
  holding(versions: readonly string[]): void;
  /**
   * The metrics of every other thread of the process, in a bounded time: a thread that does not answer in time
   * (its event loop stuck, or ended) is named late and its last answer stands in for it.
   */
  otherMetrics(): Promise<OtherThreadsMetrics>;
}

/**
 * How long the primary waits for a worker's metrics; a worker waits twice as long for the primary's answer,
 * which includes the other workers'. A scrape then takes at most 4 s, within Prometheus's default 10 s timeout.
 */
export const THREAD_METRICS_WAIT_MS = 2_000;

export interface ThreadMetricsOptions {
  /** THREAD_METRICS_WAIT_MS unless given (tests) */
  metricsWaitMs?: number;
}

/** The primary's answer to a worker asking for the other threads' metrics: which threads they are from, too. */
interface PrimaryMetricsReply extends OtherThreadsMetrics {
  threads: number[];
}

/** prom-client's JSON without what cannot cross threads (a metric's `collect` function). */
export const postableMetrics = (metrics: MetricsJson): MetricsJson =>
  metrics.map(
    ({ name, help, type, aggregator, values }) =>
      ({ name, help, type, aggregator, values }) as MetricsJson[number],
  );

const PRIMARY = 0;
/** worker_threads' id of the main thread, which the primary runs on (server.ts) */
const MAIN_THREAD_ID = 0;

/** A worker thread's channel, and the id its log lines carry. */
interface AttachedWorker {
  rpc: ThreadRpc;
  threadId: number;
  /** its last answer to `ownMetrics`, which stands in for it when it does not answer in time */
  lastMetrics: MetricsJson | null;
}

/**
 * The primary's record of the shared lists: each version's lists while some thread holds the version. A thread
 * holds what it last reported (`holding`, after each poll) and what it asked for since (its poll's loads, which
 * its next report confirms or drops), so a version loaded for one thread is not let go before it says so.
 */
export class SharedListRegistry {
  private readonly lists = new Map<string, { version: string; lists: Promise<ModelLists> }>();
  private readonly threads = new Map<number, { reported: Set<string>; asked: Set<string> }>();

  private stateOf(thread: number) {
    let state = this.threads.get(thread);
    if (!state) {
      state = { reported: new Set(), asked: new Set() };
      this.threads.set(thread, state);
    }
    return state;
  }

  get(thread: number, version: string, kind: ListKind, load: () => Promise<ModelLists>): Promise<ModelLists> {
    this.stateOf(thread).asked.add(version);
    const key = `${kind}\n${version}`;
    const held = this.lists.get(key);
    if (held) return held.lists;
    const entry = { version, lists: load() };
    this.lists.set(key, entry);
    // A failed load is not kept: the next poll asks again.
    entry.lists.catch(() => {
      if (this.lists.get(key) === entry) this.lists.delete(key);
    });
    return entry.lists;
  }

  holding(thread: number, versions: readonly string[]): void {
    const state = this.stateOf(thread);
    state.reported = new Set(versions);
    state.asked.clear();
    this.letGo();
  }

  /** A thread that ended holds nothing. */
  forget(thread: number): void {
    this.threads.delete(thread);
    this.letGo();
  }

  /** The versions whose lists are kept (for tests and the log). */
  versions(): Set<string> {
    return new Set([...this.lists.values()].map((entry) => entry.version));
  }

  private letGo() {
    const held = new Set<string>();
    for (const state of this.threads.values())
      for (const version of [...state.reported, ...state.asked]) held.add(version);
    for (const [key, entry] of this.lists) if (!held.has(entry.version)) this.lists.delete(key);
  }
}

/** What the primary serves its workers from: its app's model store and metrics. */
export interface PrimarySources {
  modelStore: ModelStore;
  ownMetrics(): Promise<MetricsJson>;
}

/**
 * The primary thread's side: its own link, and one channel per worker thread (`attach`), through which workers
 * ask for lists (loaded here when no thread has them yet), report what they hold and ask for the others' metrics.
 */
export class PrimaryThread {
  readonly registry = new SharedListRegistry();
  private readonly workers = new Map<number, AttachedWorker>();
  private nextWorker = 1;
  private sources: PrimarySources | null = null;
  private readonly metricsWaitMs: number;

  constructor(options: ThreadMetricsOptions = {}) {
    this.metricsWaitMs = options.metricsWaitMs ?? THREAD_METRICS_WAIT_MS;
  }

  readonly link: ApiThreadLink = {
    role: 'primary',
    sharedLists: (_line, version, kind, load) => this.registry.get(PRIMARY, version, kind, load),
    holding: (versions) => this.registry.holding(PRIMARY, versions),
    otherMetrics: async () => {
      const { metrics, late } = await this.metricsOfWorkers(null);
      return { metrics, late };
    },
  };

  /** Serves the workers from the primary's app, once it is built (before any worker starts). */
  serveFrom(sources: PrimarySources): void {
    this.sources = sources;
  }

  /**
   * Opens the channel of a worker thread on `port` (a `Worker`, whose `threadId` names it in metrics): its RPC,
   * and `detach` to call once the worker has ended.
   */
  attach(
    port: ThreadPort & { readonly threadId?: number },
    handlers: RpcHandlers,
  ): { rpc: ThreadRpc; detach(): void } {
    const thread = this.nextWorker++;
    const rpc = new ThreadRpc(port, {
      ...handlers,
      lists: ({ line, version, kind }: { line: string; version: string; kind: ListKind }) =>
        this.registry.get(thread, version, kind, () => this.loadShared(line, version, kind)),
      holding: (versions: string[]) => this.registry.holding(thread, versions),
      metrics: async (): Promise<PrimaryMetricsReply> => {
        const [own, workers] = await Promise.all([
          this.requireSources().ownMetrics(),
          this.metricsOfWorkers(thread),
        ]);
        return {
          metrics: [postableMetrics(own), ...workers.metrics],
          late: workers.late,
          threads: [threadId, ...workers.threads],
        };
      },
    });
    this.workers.set(thread, { rpc, threadId: port.threadId ?? thread, lastMetrics: null });
    return {
      rpc,
      detach: () => {
        rpc.fail('the API thread has ended');
        this.workers.delete(thread);
        this.registry.forget(thread);
      },
    };
  }

  private requireSources(): PrimarySources {
    if (!this.sources) throw new Error('the primary thread serves no app yet');
    return this.sources;
  }

  /** The workers' metrics but `except`'s, each waited for `metricsWaitMs` at most. */
  private async metricsOfWorkers(except: number | null): Promise<PrimaryMetricsReply> {
    const asked = [...this.workers].filter(([thread]) => thread !== except).map(([, worker]) => worker);
    const answers = await Promise.allSettled(
      asked.map((worker) => worker.rpc.call<MetricsJson>('ownMetrics', undefined, this.metricsWaitMs)),
    );
    const reply: PrimaryMetricsReply = { metrics: [], late: [], threads: [] };
    for (const [i, worker] of asked.entries()) {
      const answer = answers[i]!;
      if (answer.status === 'fulfilled') worker.lastMetrics = answer.value;
      else reply.late.push(worker.threadId);
      if (worker.lastMetrics) {
        reply.metrics.push(worker.lastMetrics);
        reply.threads.push(worker.threadId);
      }
    }
    return reply;
  }

  /** A version's lists loaded here for a worker that asked first (its item index read from its snapshot). */
  private async loadShared(line: string, version: string, kind: ListKind): Promise<ModelLists> {
    const modelLine = this.requireSources().modelStore.line(line);
    const snapshot = await modelLine.loadSnapshot(version);
    if (!snapshot) throw new Error(`model version ${version} of line ${line} is not in Redis`);
    return modelLine.loadLists(version, kind, snapshot.itemIndex, { shared: true });
  }
}

/**
 * A worker thread's link: every shared thing comes from the primary over `rpc`. When the primary does not answer
 * for the metrics in time, its last answer stands in, every thread it came from named late.
 */
export function workerLink(rpc: ThreadRpc, options: ThreadMetricsOptions = {}): ApiThreadLink {
  const waitMs = 2 * (options.metricsWaitMs ?? THREAD_METRICS_WAIT_MS);
  let last: PrimaryMetricsReply | null = null;
  return {
    role: 'worker',
    sharedLists: (line, version, kind) => rpc.call<ModelLists>('lists', { line, version, kind }),
    holding: (versions) => rpc.notify('holding', [...versions]),
    otherMetrics: async () => {
      try {
        last = await rpc.call<PrimaryMetricsReply>('metrics', undefined, waitMs);
        return { metrics: last.metrics, late: last.late };
      } catch {
        if (!last) return { metrics: [], late: [MAIN_THREAD_ID] };
        return { metrics: last.metrics, late: [...new Set([...last.threads, ...last.late])] };
      }
    },
  };
}
