import type { MetricsJson } from '@elevens/http';
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
  /** The metrics of every other thread of the process. */
  otherMetrics(): Promise<MetricsJson[]>;
}

/** prom-client's JSON without what cannot cross threads (a metric's `collect` function). */
export const postableMetrics = (metrics: MetricsJson): MetricsJson =>
  metrics.map(
    ({ name, help, type, aggregator, values }) =>
      ({ name, help, type, aggregator, values }) as MetricsJson[number],
  );

const PRIMARY = 0;

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
  private readonly workers = new Map<number, ThreadRpc>();
  private nextWorker = 1;
  private sources: PrimarySources | null = null;

  readonly link: ApiThreadLink = {
    role: 'primary',
    sharedLists: (_line, version, kind, load) => this.registry.get(PRIMARY, version, kind, load),
    holding: (versions) => this.registry.holding(PRIMARY, versions),
    otherMetrics: () => this.metricsOfWorkers(null),
  };

  /** Serves the workers from the primary's app, once it is built (before any worker starts). */
  serveFrom(sources: PrimarySources): void {
    this.sources = sources;
  }

  /** Opens the channel of a worker thread on `port`: its RPC, and `detach` to call once the worker has ended. */
  attach(port: ThreadPort, handlers: RpcHandlers): { rpc: ThreadRpc; detach(): void } {
    const thread = this.nextWorker++;
    const rpc = new ThreadRpc(port, {
      ...handlers,
      lists: ({ line, version, kind }: { line: string; version: string; kind: ListKind }) =>
        this.registry.get(thread, version, kind, () => this.loadShared(line, version, kind)),
      holding: (versions: string[]) => this.registry.holding(thread, versions),
      metrics: async () => {
        const own = await this.requireSources().ownMetrics();
        return [postableMetrics(own), ...(await this.metricsOfWorkers(thread))];
      },
    });
    this.workers.set(thread, rpc);
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

  private metricsOfWorkers(except: number | null): Promise<MetricsJson[]> {
    return Promise.all(
      [...this.workers]
        .filter(([thread]) => thread !== except)
        .map(([, rpc]) => rpc.call<MetricsJson>('ownMetrics')),
    );
  }

  /** A version's lists loaded here for a worker that asked first (its item index read from its snapshot). */
  private async loadShared(line: string, version: string, kind: ListKind): Promise<ModelLists> {
    const modelLine = this.requireSources().modelStore.line(line);
    const snapshot = await modelLine.loadSnapshot(version);
    if (!snapshot) throw new Error(`model version ${version} of line ${line} is not in Redis`);
    return modelLine.loadLists(version, kind, snapshot.itemIndex, { shared: true });
  }
}

/** A worker thread's link: every shared thing comes from the primary over `rpc`. */
export function workerLink(rpc: ThreadRpc): ApiThreadLink {
  return {
    role: 'worker',
    sharedLists: (line, version, kind) => rpc.call<ModelLists>('lists', { line, version, kind }),
    holding: (versions) => rpc.notify('holding', [...versions]),
    otherMetrics: () => rpc.call<MetricsJson[]>('metrics'),
  };
}
