import { type CommittedEvent, EventWriteOutcomeUnknown, type InsertEventsResult } from '@elevens/db';
import type { StoredEvent } from '@elevens/domain';
import { type GroupCommitStats, isStoreUnavailable } from '@elevens/http';

export interface GroupCommitOptions {
  /** A group stops taking requests once it holds this many events (a larger single request is its own group). */
  maxGroupEvents: number;
  /**
   * How long a request that arrives while a write runs waits for others to join its group (a request arriving
   * when no write runs is written at once: nobody is coming whose commit it could share sooner).
   */
  maxWaitMs: number;
  /**
   * Groups written at the same time (each holds one Postgres connection); groups in their afterCommit hold no
   * write slot, and at most twice as many groups are in flight in all.
   */
  maxConcurrentWrites: number;
  /** Commits the groups in one transaction; one result per group, in order. */
  write: (groups: StoredEvent[][]) => Promise<InsertEventsResult[]>;
  /** Runs after each commit, before the requests are answered; its failure never fails them. */
  afterCommit?: (events: CommittedEvent[]) => Promise<void>;
  /** How long the answers wait for afterCommit before going out anyway. */
  afterCommitTimeoutMs?: number;
  onAfterCommitError?: (error: unknown) => void;
  /** Runs once per committed group, before its requests are answered (the metrics). */
  onGroupCommitted?: (group: GroupCommitStats) => void;
}

/** Refused by `submit` while the queue holds its bound of events: nothing of the request was written. */
export class GroupCommitBacklogFull extends Error {
  constructor(queuedEvents: number) {
    super(`${queuedEvents} events are waiting to be written`);
    this.name = 'GroupCommitBacklogFull';
  }
}

/** Requests committed together, with their results; or one request whose write failed. */
type Written =
  | { group: Submission[]; results: InsertEventsResult[]; startedMs: number; writtenMs: number }
  | { failed: Submission; error: unknown };

interface Submission {
  events: StoredEvent[];
  /** performance.now() at its arrival */
  submittedAtMs: number;
  resolve: (result: InsertEventsResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: concurrent requests are coalesced into one transaction, so single-event clients share the cost
 * of a commit. Groups form while earlier writes run; a request arriving when none runs is written at once. A
 * request's promise settles only after the transaction holding its events committed (or failed) and its
 * afterCommit ran; duplicates are attributed to the request that sent the later copy. A committed group gives its
 * write slot back before its afterCommit, so the next transaction runs while Redis applies this group; groups in
 * flight are at most twice maxConcurrentWrites, so a slow afterCommit holds writes back instead of letting
 * committed groups pile up.
 */
export class GroupCommitter {
  private queue: Submission[] = [];
  private queuedEvents = 0;
  private writing = 0;
  /** committed groups running their afterCommit */
  private applying = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly idle = new Set<() => void>();

  /**
   * Events queued for a write slot at which a request is refused: two rounds of full groups. While Postgres falls
   * behind or stalls, the queue would otherwise take every request into memory until the process sheds on heap,
   * answering none of them sooner. Below it a request is taken whatever its size (the queue then exceeds it by
   * at most one request): counting the request's own events against it refused a batch whenever any event waited
   * once groups are small (a bound of 800 under batches of 1,000), and a batch more often than a single event.
   */
  private readonly maxQueuedEvents: number;

  constructor(private readonly options: GroupCommitOptions) {
    this.maxQueuedEvents = 2 * options.maxConcurrentWrites * options.maxGroupEvents;
  }

  /** Resolves with this request's share of the committed group; rejects with `GroupCommitBacklogFull` at once. */
  submit(events: StoredEvent[]): Promise<InsertEventsResult> {
    if (events.length === 0) return Promise.resolve({ inserted: [], duplicates: 0, beforePruneCutOff: [] });
    if (this.queuedEvents >= this.maxQueuedEvents)
      return Promise.reject(new GroupCommitBacklogFull(this.queuedEvents));
    return new Promise((resolve, reject) => {
      this.queue.push({ events, submittedAtMs: performance.now(), resolve, reject });
      this.queuedEvents += events.length;
      if (this.queuedEvents >= this.options.maxGroupEvents || this.writing === 0) this.dispatch();
      else if (this.timer === null && this.canStart()) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.dispatch();
        }, this.options.maxWaitMs);
      }
    });
  }

  /** Resolves once every submitted request has been answered. */
  async drain(): Promise<void> {
    this.dispatch();
    if (this.busy() === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idle.add(resolve));
  }

  /** Groups writing or running their afterCommit. */
  private busy(): number {
    return this.writing + this.applying;
  }

  private canStart(): boolean {
    const { maxConcurrentWrites } = this.options;
    return this.writing < maxConcurrentWrites && this.busy() < 2 * maxConcurrentWrites;
  }

  /** Starts groups while a write slot is free and afterCommit keeps up. */
  private dispatch(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.queue.length > 0 && this.canStart()) void this.commit(this.takeGroup());
  }

  /** Requests that queued meanwhile have already waited: their group starts at once. */
  private ended(): void {
    if (this.queue.length > 0) this.dispatch();
    else if (this.busy() === 0) {
      for (const resolve of this.idle) resolve();
      this.idle.clear();
    }
  }

  private takeGroup(): Submission[] {
    const group: Submission[] = [];
    let events = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (group.length > 0 && events + next.events.length > this.options.maxGroupEvents) break;
      group.push(next);
      events += next.events.length;
      this.queue.shift();
    }
    this.queuedEvents -= events;
    return group;
  }

  /** Writes the group in a write slot, then answers it after its afterCommit, the slot free again. */
  private async commit(group: Submission[]): Promise<void> {
    this.writing++;
    let written: Written[];
    try {
      written = await this.write(group);
    } finally {
      this.writing--;
    }
    this.applying++;
    this.ended();
    try {
      await Promise.all(written.map((w) => this.answer(w)));
    } finally {
      this.applying--;
      this.ended();
    }
  }

  /**
   * The group in one transaction. When that fails, its halves are written again, one after the other in this
   * write slot, down to single requests, so only a failing request fails. The retries hold one connection at a
   * time (a group may hold hundreds of requests: retried at once, they would take the pool from reads and the other
   * slots) and find one bad request among n in about 2·log2(n) transactions. A store that cannot serve fails the
   * whole group at once: no request in it is bad, and retrying each would wait out the same failure again. A
   * write whose commit reply was lost has been settled by the event log before it reaches here (its events
   * stored or not); only one it could not check fails.
   */
  private async write(group: Submission[]): Promise<Written[]> {
    const startedMs = performance.now();
    try {
      const results = await this.options.write(group.map((s) => s.events));
      return [{ group, results, startedMs, writtenMs: performance.now() }];
    } catch (error) {
      // A write of unknown outcome is not repeated either: its halves would find their own events stored.
      if (group.length === 1 || isStoreUnavailable(error) || error instanceof EventWriteOutcomeUnknown)
        return group.map((failed) => ({ failed, error }));
      const half = Math.ceil(group.length / 2);
      const first = await this.write(group.slice(0, half));
      return [...first, ...(await this.write(group.slice(half)))];
    }
  }

  private async answer(written: Written): Promise<void> {
    if ('failed' in written) {
      written.failed.reject(written.error);
      return;
    }
    const { group, results, startedMs, writtenMs } = written;
    await this.runAfterCommit(results.flatMap((r) => r.inserted));
    this.options.onGroupCommitted?.({
      requests: group.length,
      events: group.reduce((sum, s) => sum + s.events.length, 0),
      // The queue is first come, first served: the group's first request waited longest.
      waitedMs: startedMs - group[0]!.submittedAtMs,
      writeMs: writtenMs - startedMs,
      afterCommitMs: performance.now() - writtenMs,
    });
    for (const [i, s] of group.entries()) s.resolve(results[i]!);
  }

  private async runAfterCommit(events: CommittedEvent[]): Promise<void> {
    const { afterCommit, afterCommitTimeoutMs = 1_000, onAfterCommitError } = this.options;
    if (!afterCommit || events.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`live state update took over ${afterCommitTimeoutMs} ms`)),
        afterCommitTimeoutMs,
      );
    });
    try {
      await Promise.race([afterCommit(events), timeout]);
    } catch (error) {
      onAfterCommitError?.(error);
    } finally {
      clearTimeout(timer);
    }
  }
}
