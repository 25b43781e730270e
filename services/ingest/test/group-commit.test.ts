import type { CommittedEvent, InsertEventsResult } from '@elevens/db';
import type { StoredEvent } from '@elevens/domain';
import type { GroupCommitStats } from '@elevens/http';
import { createTestInfra, metricSample, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIngestApp, type IngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';
import { GroupCommitBacklogFull, GroupCommitter } from '../src/group-commit';

const stored = (eventId: string): StoredEvent => ({
  eventId,
  userId: 'u',
  itemId: 'i',
  type: 'view',
  timestampMs: Date.UTC(2026, 10, 11),
  sessionId: null,
  recommendationId: null,
  quantity: null,
  price: null,
  properties: null,
});

/** An in-memory `write` with the same contract as insertEventGroups: first occurrence of an id wins. */
function memoryWriter() {
  const seen = new Set<string>();
  const groupSizes: number[] = [];
  const write = async (groups: StoredEvent[][]): Promise<InsertEventsResult[]> => {
    groupSizes.push(groups.length);
    await new Promise((resolve) => setTimeout(resolve, 5));
    return groups.map((events) => {
      const inserted: CommittedEvent[] = [];
      for (const e of events) {
        if (!seen.has(e.eventId)) {
          seen.add(e.eventId);
          inserted.push({ ...e, anonymous: false });
        }
      }
      return { inserted, duplicates: events.length - inserted.length, beforePruneCutOff: [] };
    });
  };
  return { write, groupSizes };
}

describe('GroupCommitter', () => {
  it('writes a request arriving when no write runs at once, without waiting for company', async () => {
    const { write, groupSizes } = memoryWriter();
    const committer = new GroupCommitter({
      maxGroupEvents: 100,
      maxWaitMs: 60_000,
      maxConcurrentWrites: 1,
      write,
    });
    const result = committer.submit([stored('lone')]);
    expect(groupSizes).toEqual([1]);
    expect((await result).inserted).toHaveLength(1);
  });

  it('coalesces the requests that arrive during a write into one group and splits the result back', async () => {
    const { write, groupSizes } = memoryWriter();
    const committer = new GroupCommitter({
      maxGroupEvents: 100,
      maxWaitMs: 20,
      maxConcurrentWrites: 1,
      write,
    });
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, n) => committer.submit([stored(`a${n}`), stored(`b${n}`)])),
    );
    expect(groupSizes).toEqual([1, 9]);
    expect(results.every((r) => r.inserted.length === 2 && r.duplicates === 0)).toBe(true);
  });

  it('counts the same id in two concurrent requests once, as the later request’s duplicate', async () => {
    const { write } = memoryWriter();
    const committer = new GroupCommitter({
      maxGroupEvents: 100,
      maxWaitMs: 20,
      maxConcurrentWrites: 1,
      write,
    });
    const [first, second] = await Promise.all([
      committer.submit([stored('x'), stored('y')]),
      committer.submit([stored('y'), stored('z')]),
    ]);
    expect(first!.inserted.map((e) => e.eventId)).toEqual(['x', 'y']);
    expect(second!.inserted.map((e) => e.eventId)).toEqual(['z']);
    expect(second!.duplicates).toBe(1);
  });

  it('caps a group at maxGroupEvents and keeps whole requests together', async () => {
    const { write, groupSizes } = memoryWriter();
    const committer = new GroupCommitter({ maxGroupEvents: 4, maxWaitMs: 20, maxConcurrentWrites: 1, write });
    await Promise.all(
      Array.from({ length: 5 }, (_, n) => committer.submit([stored(`p${n}`), stored(`q${n}`)])),
    );
    expect(groupSizes.reduce((a, b) => a + b, 0)).toBe(5);
    expect(Math.max(...groupSizes)).toBe(2);
  });

  it('fails only the request whose write fails when a group fails', async () => {
    const committer = new GroupCommitter({
      maxGroupEvents: 100,
      maxWaitMs: 20,
      maxConcurrentWrites: 1,
      write: async (groups) => {
        if (groups.flat().some((e) => e.eventId === 'poison')) throw new Error('refused');
        return groups.map((events) => ({
          inserted: events.map((e) => ({ ...e, anonymous: false })),
          duplicates: 0,
          beforePruneCutOff: [],
        }));
      },
    });
    const [good, bad] = await Promise.allSettled([
      committer.submit([stored('fine')]),
      committer.submit([stored('poison')]),
    ]);
    expect(good.status).toBe('fulfilled');
    expect(bad.status).toBe('rejected');
  });

  it("retries a failed group's requests one transaction at a time in its write slot, storing all but the bad one", async () => {
    const { write: memoryWrite } = memoryWriter();
    let inFlight = 0;
    let peak = 0;
    const committer = new GroupCommitter({
      maxGroupEvents: 1_000,
      maxWaitMs: 20,
      maxConcurrentWrites: 1,
      write: async (groups) => {
        peak = Math.max(peak, ++inFlight);
        try {
          if (groups.flat().some((e) => e.eventId === 'poison')) {
            await new Promise((resolve) => setTimeout(resolve, 1));
            throw Object.assign(new Error('refused'), { code: '23514' });
          }
          return await memoryWrite(groups);
        } finally {
          inFlight--;
        }
      },
    });
    // The first request is written alone; the next 200 (one of them bad) queue behind it as one group.
    const lead = committer.submit([stored('lead')]);
    const rest = Array.from({ length: 200 }, (_, n) =>
      committer.submit([stored(n === 120 ? 'poison' : `r${n}`), stored(`s${n}`)]),
    );
    const settled = await Promise.allSettled([lead, ...rest]);
    expect(peak).toBe(1);
    expect(settled.filter((s) => s.status === 'rejected')).toHaveLength(1);
    expect(settled[121]!.status).toBe('rejected');
    const inserted = settled.flatMap((s) => (s.status === 'fulfilled' ? s.value.inserted : []));
    expect(inserted).toHaveLength(1 + 2 * 199);
  });

  it('fails every request of a group at once when the store is unavailable, without retrying each', async () => {
    const groups: number[] = [];
    const committer = new GroupCommitter({
      maxGroupEvents: 100,
      maxWaitMs: 20,
      maxConcurrentWrites: 1,
      write: async (written) => {
        groups.push(written.length);
        if (groups.length === 1)
          return written.map((events) => ({
            inserted: events.map((e) => ({ ...e, anonymous: false })),
            duplicates: 0,
            beforePruneCutOff: [],
          }));
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      },
    });
    const settled = await Promise.allSettled([
      committer.submit([stored('first')]),
      ...Array.from({ length: 20 }, (_, n) => committer.submit([stored(`down${n}`)])),
    ]);
    expect(settled[0]!.status).toBe('fulfilled');
    expect(settled.slice(1).every((s) => s.status === 'rejected')).toBe(true);
    // The first request, then one try of the other twenty together: Postgres is down for all of them alike.
    expect(groups).toEqual([1, 20]);
  });

  it('answers after a failing or hanging live-state update, reporting the failure', async () => {
    const { write } = memoryWriter();
    const failures: unknown[] = [];
    const committer = new GroupCommitter({
      maxGroupEvents: 100,
      maxWaitMs: 0,
      maxConcurrentWrites: 1,
      write,
      afterCommit: () => new Promise(() => {}),
      afterCommitTimeoutMs: 10,
      onAfterCommitError: (error) => failures.push(error),
    });
    const result = await committer.submit([stored('h')]);
    expect(result.inserted).toHaveLength(1);
    expect(failures).toHaveLength(1);
  });

  it("writes the next group during a committed group's afterCommit, and holds writes back while afterCommits lag", async () => {
    const written: string[] = [];
    const applied: (() => void)[] = [];
    const committer = new GroupCommitter({
      maxGroupEvents: 100,
      maxWaitMs: 0,
      maxConcurrentWrites: 1,
      write: async (groups) => {
        written.push(...groups.flat().map((e) => e.eventId));
        return groups.map((events) => ({
          inserted: events.map((e) => ({ ...e, anonymous: false })),
          duplicates: 0,
          beforePruneCutOff: [],
        }));
      },
      afterCommit: () => new Promise<void>((resolve) => applied.push(resolve)),
    });
    const settled = () => new Promise((resolve) => setImmediate(resolve));
    let answered = 0;
    const a = committer.submit([stored('a')]).then(() => answered++);
    await settled();
    expect([written, applied.length]).toEqual([['a'], 1]);
    // a waits in its afterCommit; b's transaction runs meanwhile.
    const b = committer.submit([stored('b')]).then(() => answered++);
    await settled();
    expect([written, applied.length, answered]).toEqual([['a', 'b'], 2, 0]);
    // Two groups in flight with one write slot: c waits until an afterCommit ends.
    const c = committer.submit([stored('c')]).then(() => answered++);
    await settled();
    expect(written).toEqual(['a', 'b']);
    applied[0]!();
    await a;
    await settled();
    expect([written, answered]).toEqual([['a', 'b', 'c'], 1]);
    applied[1]!();
    applied[2]!();
    await Promise.all([b, c]);
    await committer.drain();
    expect(answered).toBe(3);
  });

  it('refuses a request while the queue holds two rounds of full groups, and takes requests again once it drains', async () => {
    const { write: memoryWrite } = memoryWriter();
    let release = () => {};
    const stalled = new Promise<void>((resolve) => {
      release = resolve;
    });
    const committer = new GroupCommitter({
      maxGroupEvents: 10,
      maxWaitMs: 0,
      maxConcurrentWrites: 1,
      write: async (groups) => {
        await stalled;
        return memoryWrite(groups);
      },
    });
    const batch = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => stored(`${prefix}${i}`));
    // The first request takes the only write slot, which stalls (Postgres slow); the next ones queue.
    const writing = committer.submit(batch('w', 1));
    const queued = [committer.submit(batch('q', 10)), committer.submit(batch('r', 10))];
    // 2 × maxConcurrentWrites × maxGroupEvents = 20 events queued: no more is taken into memory.
    await expect(committer.submit(batch('x', 1))).rejects.toBeInstanceOf(GroupCommitBacklogFull);
    release();
    const results = await Promise.all([writing, ...queued]);
    expect(results.map((r) => r.inserted.length)).toEqual([1, 10, 10]);
    expect((await committer.submit(batch('x', 1))).inserted).toHaveLength(1);
  });

  it('takes a request larger than the backlog bound when nothing is queued', async () => {
    const { write } = memoryWriter();
    const committer = new GroupCommitter({ maxGroupEvents: 2, maxWaitMs: 0, maxConcurrentWrites: 1, write });
    const writing = committer.submit([stored('lead')]);
    const big = committer.submit(Array.from({ length: 50 }, (_, i) => stored(`big${i}`)));
    expect((await writing).inserted).toHaveLength(1);
    expect((await big).inserted).toHaveLength(50);
  });

  it('takes a batch of any size while fewer events than the bound wait, as it takes a single event', async () => {
    const { write: memoryWrite } = memoryWriter();
    let release = () => {};
    const stalled = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Groups of 100 events with one write slot: a bound of 200 waiting events, below a full batch of 1,000.
    const committer = new GroupCommitter({
      maxGroupEvents: 100,
      maxWaitMs: 0,
      maxConcurrentWrites: 1,
      write: async (groups) => {
        await stalled;
        return memoryWrite(groups);
      },
    });
    const batch = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => stored(`${prefix}${i}`));
    const submitted = [committer.submit(batch('w', 1)), committer.submit(batch('s', 1))];
    // One event waits: a full batch is taken, as a single event would be; then 1,001 wait, past the bound, and a
    // single event is refused.
    submitted.push(committer.submit(batch('b', 1_000)), committer.submit(batch('x', 1)));
    release();
    const outcomes = await Promise.allSettled(submitted);
    expect(
      outcomes.map((o) =>
        o.status === 'fulfilled' ? o.value.inserted.length : o.reason instanceof GroupCommitBacklogFull,
      ),
    ).toEqual([1, 1, 1_000, true]);
  });

  it('reports each committed group, its size and the time of each stage, before answering its requests', async () => {
    const { write } = memoryWriter();
    const reports: (GroupCommitStats & { answeredBefore: number })[] = [];
    let answered = 0;
    const committer = new GroupCommitter({
      maxGroupEvents: 100,
      maxWaitMs: 50,
      maxConcurrentWrites: 1,
      write,
      afterCommit: () => new Promise((resolve) => setTimeout(resolve, 5)),
      onGroupCommitted: (group) => reports.push({ ...group, answeredBefore: answered }),
    });
    await Promise.all(
      Array.from({ length: 4 }, (_, n) =>
        committer.submit([stored(`s${n}`), stored(`t${n}`)]).then(() => answered++),
      ),
    );
    expect(reports.map((r) => [r.requests, r.events, r.answeredBefore])).toEqual([
      [1, 2, 0],
      [3, 6, 1],
    ]);
    // The first request found no write running and was written at once. The other three arrived in the same tick,
    // so their wait holds the first group's write (clock readings, not timer lengths: a timer may fire up to a
    // millisecond early on the loop's cached clock).
    const first = reports[0]!;
    const second = reports[1]!;
    expect(first.waitedMs).toBeLessThan(second.waitedMs);
    expect(second.waitedMs).toBeGreaterThanOrEqual(first.writeMs - 1);
    for (const report of reports) {
      expect(report.writeMs).toBeGreaterThan(0);
      expect(report.afterCommitMs).toBeGreaterThan(0);
    }
  });
});

describe('group commit through the API', () => {
  let infra: TestInfra;
  let app: IngestApp;

  beforeAll(async () => {
    infra = await createTestInfra('ingest-group');
    app = await buildIngestApp({
      config: loadIngestConfig({
        ...infra.env,
        INGEST_GROUP_MAX_WAIT_MS: '50',
        INGEST_WRITE_CONCURRENCY: '1',
      }),
    });
  });

  afterAll(async () => {
    await app.close();
    await infra.close();
  });

  const post = (events: unknown[]) =>
    app.inject({ method: 'POST', url: '/v1/events', payload: { events } }).then((r) => r.json());
  const event = (eventId: string) => ({ eventId, userId: 'u1', itemId: 'i1', type: 'view' });

  it('writes concurrent single-event requests in fewer transactions than requests', async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, (_, n) => post([event(`g${n}`)])));
    expect(replies.every((r) => r.accepted === 1)).toBe(true);
    const { rows } = await infra.pool.query(
      "SELECT count(*)::int AS events, count(DISTINCT xmin::text)::int AS transactions FROM events WHERE event_id LIKE 'g%'",
    );
    expect(rows[0].events).toBe(20);
    expect(rows[0].transactions).toBeLessThan(20);
  });

  it("exports each group's size and the seconds of its stages in /metrics", async () => {
    await Promise.all(Array.from({ length: 5 }, (_, n) => post([event(`m${n}`)])));
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    for (const stage of ['wait', 'write', 'live_state'])
      expect(metricSample(metrics, 'elevens_ingest_group_seconds_count', { stage })).toBeGreaterThan(0);
    // Every request so far in this app went through a group: at least these five.
    expect(
      metricSample(metrics, 'elevens_ingest_group_size_sum', { unit: 'requests' }),
    ).toBeGreaterThanOrEqual(5);
    expect(metricSample(metrics, 'elevens_ingest_group_size_sum', { unit: 'events' })).toBeGreaterThanOrEqual(
      5,
    );
  });

  it('stores an id sent by two concurrent requests once and counts one duplicate', async () => {
    const [a, b] = await Promise.all([post([event('shared'), event('a1')]), post([event('shared')])]);
    expect(a.accepted + b.accepted).toBe(2);
    expect(a.duplicates + b.duplicates).toBe(1);
    const { rows } = await infra.pool.query(
      "SELECT count(*)::int AS n FROM events WHERE event_id = 'shared'",
    );
    expect(rows[0].n).toBe(1);
  });

  it.each([
    { path: 'one statement', size: 50, maxGroupEvents: '60' },
    { path: 'binary COPY', size: 450, maxGroupEvents: '5000' },
  ])(
    'keeps duplicate counts right when write slots race on the same ids ($path)',
    async ({ path, size, maxGroupEvents }) => {
      const racing = await buildIngestApp({
        config: loadIngestConfig({
          ...infra.env,
          INGEST_GROUP_MAX_WAIT_MS: '0',
          INGEST_GROUP_MAX_EVENTS: maxGroupEvents,
          INGEST_WRITE_CONCURRENCY: '4',
        }),
      });
      const prefix = `race-${path.replace(/ /g, '-')}-`;
      try {
        const batch = Array.from({ length: size }, (_, n) => event(`${prefix}${n}`));
        const replies = await Promise.all(
          Array.from({ length: 8 }, (_, n) =>
            racing
              .inject({ method: 'POST', url: '/v1/events', payload: { events: batch.slice(n % 2) } })
              .then((r) => r.json()),
          ),
        );
        expect(replies.reduce((sum, r) => sum + r.accepted, 0)).toBe(size);
        expect(replies.reduce((sum, r) => sum + r.accepted + r.duplicates, 0)).toBe(8 * size - 4);
        const { rows } = await infra.pool.query(
          'SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS ids FROM events WHERE event_id LIKE $1',
          [`${prefix}%`],
        );
        expect(rows[0]).toEqual({ n: size, ids: size });
      } finally {
        await racing.close();
      }
    },
  );
});
