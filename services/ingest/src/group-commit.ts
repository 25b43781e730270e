import type { CommittedEvent, InsertEventsResult } from '@elevens/db';
import type { StoredEvent } from '@elevens/domain';
import type { GroupCommitStats } from '@elevens/http';

export interface GroupCommitOptions {
  /** A group stops taking requests once it holds this many events (a larger single request is its own group). */
  maxGroupEvents: number;
  /**
   * How long a request that arrives while a write runs waits for others to join its group (a request arriving
   * when no write runs is written at once: nobody is coming whose commit it could share sooner).
   */
  maxWaitMs: number;
  /** Groups written at the same time (each holds one Postgres connection). */
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
 * request's promise settles only after the transaction holding its events committed (or failed); duplicates are
 * attributed to the request that sent the later copy.
 */
export class GroupCommitter {
  private queue: Submission[] = [];
  private queuedEvents = 0;
  private writing = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly idle = new Set<() => void>();

  constructor(private readonly options: GroupCommitOptions) {}

  /** Resolves with this request's share of the committed group. */
  submit(events: StoredEvent[]): Promise<InsertEventsResult> {
    if (events.length === 0) return Promise.resolve({ inserted: [], duplicates: 0 });
    return new Promise((resolve, reject) => {
      this.queue.push({ events, submittedAtMs: performance.now(), resolve, reject });
      this.queuedEvents += events.length;
      if (this.queuedEvents >= this.options.maxGroupEvents || this.writing === 0) this.dispatch();
      else if (this.timer === null && this.writing < this.options.maxConcurrentWrites) {
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
    if (this.writing === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idle.add(resolve));
  }

  /** Starts groups while write slots are free. */
  private dispatch(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.queue.length > 0 && this.writing < this.options.maxConcurrentWrites) {
      const group = this.takeGroup();
      this.writing++;
      void this.commit(group).finally(() => {
        this.writing--;
        // Requests that queued during the write have already waited: start their group at once.
        if (this.queue.length > 0) this.dispatch();
        else if (this.writing === 0) {
          for (const resolve of this.idle) resolve();
          this.idle.clear();
        }
      });
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

  private async commit(group: Submission[]): Promise<void> {
    const startedMs = performance.now();
    let results: InsertEventsResult[];
    try {
      results = await this.options.write(group.map((s) => s.events));
    } catch (error) {
      if (group.length === 1) {
        group[0]!.reject(error);
        return;
      }
      // One request's data may have failed the whole group: write each on its own so only it fails.
      await Promise.all(group.map((s) => this.commit([s])));
      return;
    }
    const writtenMs = performance.now();
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
