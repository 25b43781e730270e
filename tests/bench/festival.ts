/**
 * bench:festival — recommendations as a storefront asks for them on festival night, against the bare route, in
 * the same run and with the same load generator (http-loops.ts, CONNECTIONS closed loops), on the shop of
 * shop.ts (200,000 items × 50 neighbours, about 17,000 users with live histories):
 *   - festival mix: each turn posts one fresh `view` event through the ingest API (POST /v1/events, answered
 *     after the commit and the live-state update), then asks GET /v1/recommendations for the same user
 *     (browse, then read). Every other turn is a returning shopper (a user with a history, at random) viewing an
 *     item of their previous answer, as a click on a recommendation; the others are new shoppers, whose one view
 *     of an item drawn from the shop's popularity must personalize their first answer. Each event renews the
 *     user's stamp, so the reply cache cannot answer: the hit rate it saw is printed from the API's metrics;
 *   - bare GET: the bare route (bare-route.mjs: one Redis GET of a real reply, Node's default flags);
 *   - ingest + bare GET: the mix's turns with the bare route as the read: what the mix's writes leave a read;
 *   - reply cache off, no events: the API with RECOMMENDATION_CACHE_TTL=0 (a process of its own) for returning
 *     shoppers at random: the pure computed path.
 * The phases alternate in ROUNDS slices, so that all see the same contention from other work on the machine;
 * p50/p99 are the slices' medians of the raw response times of the reads. Every answer of the mix is checked
 * against the event before it: the viewed item is an anchor, so it is never among `items`, and (every item of
 * the model has neighbours) the answer is personalized with the viewed item in some item's `because`. The run
 * counts the answers that are not and exits with 1 when there is any.
 * Servers run in child processes: the API with its production node flags, ingest (ingest-server.ts, as
 * `elevens serve ingest` runs it) and the bare route with Node's defaults. The shop's histories come through
 * ingest too (shop.ts). 127.0.0.1 only; its own database (elevens_bench_festival, dropped at the end) and keys under
 * a bench prefix (deleted at the end). BENCH_PHASE_SECONDS (default 20) sets each phase's length; BENCH_CPU_PROF=<dir>
 * writes CPU profiles of the two API processes (the mix's, and the computed path's) and of ingest there, and prints
 * each one's self time by function and by package over its phases' measured slices, per read or per event;
 * BENCH_PERF=1 runs `perf record` of the whole machine over the measured slices (perf.ts) and prints the hottest
 * native symbols of the mix's API, ingest, Redis, Postgres and the load generator.
 */

import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { DEFAULT_DATABASE_URL } from '@elevens/config';
import type { RecommendationsReply } from '@elevens/domain';
import { DEFAULT_SERVING_SETTINGS, type HistoryEvent, weighUserHistory } from '@elevens/recommender';
import { createKeys, createRedis, deleteKeysWithPrefix, readUserHistory } from '@elevens/redis-stores';
import { monotonicUs, type ProfileWindow, profileSummary } from './cpu-profile';
import { type HttpConnection, openConnections, runLoops } from './http-loops';
import { median, percentiles } from './latency';
import { type PerfRecording, perfRecord, WITH_PERF } from './perf';
import { RUNTIME } from './runtime';
import {
  type BenchServer,
  commandCpuMs,
  commandCpuSpentMs,
  machineCpuMs,
  processCpuMs,
  processMemoryMiB,
  startBareRoute,
} from './servers';
import {
  API_THREADS_LABEL,
  dropShopDatabase,
  prepareShop,
  REDIS_URL,
  replyCacheCounts,
  startShopApi,
  startShopIngest,
} from './shop';

const CONNECTIONS = Number(process.env.BENCH_LOOPS ?? 64);
const PHASE_SECONDS = Number(process.env.BENCH_PHASE_SECONDS ?? 20);
const ROUNDS = 5;
const WARMUP_SECONDS = 5;
/** Bounds each slice in turns as well as in time. */
const MAX_TURNS_PER_SLICE = 500_000;
const LIMIT = 10;
const DATABASE_NAME = 'elevens_bench_festival';
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF ? resolvePath(process.env.BENCH_CPU_PROF) : null;
const profileFlags = CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : [];

const databaseUrl = () => {
  const url = new URL(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
  url.pathname = `/${DATABASE_NAME}`;
  return url.toString();
};

const recommendationsPath = (userId: string) =>
  `/v1/recommendations?userId=${encodeURIComponent(userId)}&limit=${LIMIT}`;

type Miss = 'recommended back' | 'not personalized' | 'viewed item in no because';
const MISSES: readonly Miss[] = ['recommended back', 'not personalized', 'viewed item in no because'];

/** How an answer fails to reflect the view of `viewed` just before it; null when it reflects it. */
function missOf(answer: RecommendationsReply, viewed: string): Miss | null {
  if (answer.items.some((item) => item.itemId === viewed)) return 'recommended back';
  if (!answer.personalized) return 'not personalized';
  if (!answer.items.some((item) => item.because?.includes(viewed))) return 'viewed item in no because';
  return null;
}

/**
 * The reply cache's keys in Redis under `prefix` (a standalone server): answers stored and first-miss marks (the stamp and a tab,
 * RECOMMENDATION_CACHE_MIN_USES), with the bytes of their values.
 */
async function replyCacheFootprint(redis: ReturnType<typeof createRedis>, prefix: string) {
  const footprint = { entries: 0, entryBytes: 0, marks: 0, markBytes: 0 };
  const pattern = createKeys(prefix).userReplyPattern();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.strlen(key).getrange(key, -1, -1);
    const replies = (await pipeline.exec()) ?? [];
    for (let k = 0; k < keys.length; k++) {
      const bytes = Number(replies[2 * k]?.[1] ?? 0);
      if (replies[2 * k + 1]?.[1] === '\t') {
        footprint.marks++;
        footprint.markBytes += bytes;
      } else if (bytes > 0) {
        footprint.entries++;
        footprint.entryBytes += bytes;
      }
    }
  } while (cursor !== '0');
  return footprint;
}

/** Requests of one kind over a phase's slices: count, time, errors, server CPU and raw response times. */
class Figures {
  requests = 0;
  seconds = 0;
  errors = 0;
  private serverCpuMs: number | null = 0;
  private readonly sliceLatencies: number[][] = [];

  /** Starts a slice; returns the array its response times (ms) go to. */
  startSlice(): number[] {
    const latencies: number[] = [];
    this.sliceLatencies.push(latencies);
    return latencies;
  }

  /** The server's CPU over a slice (null where /proc is unavailable). */
  addCpu(ms: number | null) {
    this.serverCpuMs = ms === null || this.serverCpuMs === null ? null : this.serverCpuMs + ms;
  }

  summary() {
    const slices = this.sliceLatencies.map(percentiles);
    return {
      rps: this.requests / this.seconds,
      p50: median(slices.map((s) => s.p50)),
      p99: median(slices.map((s) => s.p99)),
      cpuUs: this.serverCpuMs === null ? null : (this.serverCpuMs * 1000) / Math.max(1, this.requests),
      errors: this.errors,
    };
  }
}
type Summary = ReturnType<Figures['summary']>;

/** The mix's answers checked against the event before each. */
class Tally {
  checked = 0;
  degraded = 0;
  readonly misses = new Map<Miss, number>(MISSES.map((miss) => [miss, 0]));
  /**
   * For the answers with the viewed item in no `because`: its rank among the user's anchors by weight, read from
   * the live history right after the answer (0: not in the history, so the answer missed the event).
   */
  readonly anchorRanks = new Map<number, number>();
  readonly examples: string[] = [];

  get missed() {
    return [...this.misses.values()].reduce((sum, n) => sum + n, 0);
  }
}

/** The machine's CPU ms by process at one instant: where a phase's turns spend the two cores. */
function cpuShares(readServerPid: number, ingestPid: number) {
  const client = process.cpuUsage();
  return {
    read: processCpuMs(readServerPid),
    ingest: processCpuMs(ingestPid),
    postgres: commandCpuMs('postgres'),
    redis: commandCpuMs('redis-server'),
    client: (client.user + client.system) / 1000,
    machine: machineCpuMs() ?? { busy: 0, idle: 0 },
  };
}
type CpuShares = ReturnType<typeof cpuShares>;
const CPU_ROLES = ['read', 'ingest', 'postgres', 'redis', 'client', 'other', 'idle'] as const;

/** CPU ms between two readings of one process; null where /proc is unavailable. */
const cpuBetween = (before: number | null, after: number | null) =>
  before === null || after === null ? null : after - before;

/** A phase's CPU ms by role, summed over its slices. */
class CpuSpent {
  readonly ms = new Map<(typeof CPU_ROLES)[number], number>(CPU_ROLES.map((role) => [role, 0]));

  add(before: CpuShares, after: CpuShares, postsEvents: boolean) {
    const spent = (role: 'read' | 'ingest' | 'postgres' | 'redis' | 'client') => {
      if (role === 'postgres' || role === 'redis') return commandCpuSpentMs(before[role], after[role]);
      if (role === 'ingest' && !postsEvents) return 0;
      return cpuBetween(before[role], after[role]) ?? 0;
    };
    let named = 0;
    for (const role of ['read', 'ingest', 'postgres', 'redis', 'client'] as const) {
      const ms = spent(role);
      named += ms;
      this.ms.set(role, this.ms.get(role)! + ms);
    }
    this.ms.set('other', this.ms.get('other')! + after.machine.busy - before.machine.busy - named);
    this.ms.set('idle', this.ms.get('idle')! + after.machine.idle - before.machine.idle);
  }
}

/** Where one slice's measurements go. */
interface Sinks {
  reads: Figures;
  readLatencies: number[];
  events: Figures;
  eventLatencies: number[];
  tally: Tally;
}
type Turn = (loop: number, sinks: Sinks) => Promise<void>;

/** Runs `turn` in CONNECTIONS closed loops for `seconds`; returns the seconds taken. */
async function slice(seconds: number, turn: (loop: number) => Promise<void>): Promise<number> {
  const { seconds: taken } = await runLoops(CONNECTIONS, { seconds, maxTurns: MAX_TURNS_PER_SLICE }, turn);
  return taken;
}

const PERF_SYMBOLS = 12;

/** The hottest native symbols of each process named, over every phase's slices. */
function perfSections(
  recording: PerfRecording,
  processes: readonly [string, { pid: number } | { comm: string }][],
): string[] {
  return [
    '',
    `perf record of the machine over the measured slices (${recording.file}), each process's hottest symbols by share of its samples:`,
    ...processes.flatMap(([name, of]) => ['', `${name}:`, ...recording.topSymbols(of, PERF_SYMBOLS)]),
  ];
}

async function main() {
  console.log(`runtime: ${RUNTIME}; ${API_THREADS_LABEL}`);
  const runId = randomBytes(4).toString('hex');
  const prefix = `bench:festival:${runId}:`;
  if (CPU_PROF_DIR) mkdirSync(CPU_PROF_DIR, { recursive: true });
  const redis = createRedis(REDIS_URL);
  const servers: BenchServer[] = [];
  const connections: HttpConnection[] = [];
  try {
    const { users, eventItems } = await prepareShop(prefix, databaseUrl());
    const bareKey = `${prefix}bench:bare-value`;
    const starts = await Promise.allSettled([
      startShopApi(prefix, databaseUrl(), { extraNodeFlags: profileFlags }),
      startShopApi(prefix, databaseUrl(), { cacheTtl: '0', extraNodeFlags: profileFlags }),
      startShopIngest(prefix, databaseUrl(), { extraNodeFlags: profileFlags }),
      startBareRoute('get', bareKey, REDIS_URL),
    ]);
    // The servers that started are stopped at the end even when another did not start.
    for (const start of starts) if (start.status === 'fulfilled') servers.push(start.value);
    for (const start of starts) if (start.status === 'rejected') throw start.reason;
    const [api, apiUncached, ingest, bare] = servers as [BenchServer, BenchServer, BenchServer, BenchServer];
    const open = async (port: number) => {
      const opened = await openConnections(port, CONNECTIONS);
      connections.push(...opened);
      return opened;
    };
    const [apiConnections, uncachedConnections, ingestConnections, bareConnections] = await Promise.all([
      open(api.port),
      open(apiUncached.port),
      open(ingest.port),
      open(bare.port),
    ]);

    const read = async (connection: HttpConnection, path: string) => {
      const answer = await connection.request('GET', path);
      if (answer.status !== 200) throw new Error(`GET ${path}: ${answer.status} ${answer.body.toString()}`);
      return answer.body;
    };
    await redis.set(bareKey, await read(apiConnections[0]!, recommendationsPath(users[0]!)));

    // Every returning shopper once on each API process (the JIT warms up); on the cached API this also leaves each
    // shopper's first-miss mark in the reply cache (whatever it held, the mix's events make it stale), and gives
    // each shopper the answer whose items they click.
    const lastItems = new Map<string, string[]>();
    const warmStarted = Date.now();
    for (const [connectionsOfApi, remember] of [
      [apiConnections, true],
      [uncachedConnections, false],
    ] as const) {
      let next = 0;
      await runLoops(CONNECTIONS, { seconds: 600, maxTurns: users.length }, async (loop) => {
        const userId = users[next++]!;
        const answer = await read(connectionsOfApi[loop]!, recommendationsPath(userId));
        if (remember)
          lastItems.set(
            userId,
            (JSON.parse(answer.toString()) as RecommendationsReply).items.map((item) => item.itemId),
          );
      });
    }

    const pick = <T>(values: readonly T[]) => values[Math.floor(Math.random() * values.length)]!;
    let views = 0;
    let newShoppers = 0;
    /** The turn's view: a returning shopper clicks an item of their last answer; a new one views a popular item. */
    /**
     * Returning shoppers in a turn now: a shopper is in one turn at a time (two at once would make one turn's
     * answer reflect the other's newer view, and count as a miss of the first).
     */
    const inTurn = new Set<string>();
    const nextView = () => {
      const eventId = `festival-${runId}-${views}`;
      if (views++ % 2 === 0) {
        let userId = pick(users);
        while (inTurn.has(userId)) userId = pick(users);
        inTurn.add(userId);
        const clickable = lastItems.get(userId) ?? [];
        const itemId = clickable.length > 0 ? pick(clickable) : pick(eventItems);
        return { eventId, userId, itemId, returning: true };
      }
      return {
        eventId,
        userId: `shopper-${runId}-${newShoppers++}`,
        itemId: pick(eventItems),
        returning: false,
      };
    };
    /** Posts the turn's view; false (and counted) when ingest did not accept it. */
    const postView = async (loop: number, view: ReturnType<typeof nextView>, sinks: Sinks) => {
      const body = JSON.stringify({
        events: [
          {
            eventId: view.eventId,
            userId: view.userId,
            itemId: view.itemId,
            type: 'view',
            timestamp: Date.now(),
          },
        ],
      });
      const started = performance.now();
      const answer = await ingestConnections[loop]!.request('POST', '/v1/events', body);
      sinks.eventLatencies.push(performance.now() - started);
      sinks.events.requests++;
      if (
        answer.status === 200 &&
        (JSON.parse(answer.body.toString()) as { accepted: number }).accepted === 1
      )
        return true;
      sinks.events.errors++;
      return false;
    };
    /** One GET, timed into the sinks; the answer's body when it is a 200. */
    const timedRead = async (connection: HttpConnection, path: string, sinks: Sinks) => {
      const started = performance.now();
      const answer = await connection.request('GET', path);
      sinks.readLatencies.push(performance.now() - started);
      sinks.reads.requests++;
      if (answer.status === 200) return answer.body;
      sinks.reads.errors++;
      return null;
    };

    const keys = createKeys(prefix);
    /** The user's anchors as serving weighs them now (heaviest first), with the types of each item's events. */
    const anchorsOf = async (userId: string) => {
      const history: HistoryEvent[] = await readUserHistory(
        redis,
        keys,
        userId,
        DEFAULT_SERVING_SETTINGS.historyLength,
      );
      return [...weighUserHistory(history, DEFAULT_SERVING_SETTINGS)].map(([itemId, weight]) => ({
        itemId,
        weight,
        types: history.filter((event) => event.itemId === itemId).map((event) => event.type),
      }));
    };

    const mixTurn: Turn = async (loop, sinks) => {
      const view = nextView();
      try {
        await mixTurnOf(loop, view, sinks);
      } finally {
        inTurn.delete(view.userId);
      }
    };
    const mixTurnOf = async (loop: number, view: ReturnType<typeof nextView>, sinks: Sinks) => {
      if (!(await postView(loop, view, sinks))) return;
      const body = await timedRead(apiConnections[loop]!, recommendationsPath(view.userId), sinks);
      if (body === null) return;
      const reply = JSON.parse(body.toString()) as RecommendationsReply;
      const { tally } = sinks;
      tally.checked++;
      if (reply.degraded) tally.degraded++;
      const miss = missOf(reply, view.itemId);
      if (miss !== null) {
        tally.misses.set(miss, tally.misses.get(miss)! + 1);
        let anchorsText = '';
        if (miss === 'viewed item in no because') {
          const anchors = await anchorsOf(view.userId);
          const rank = anchors.findIndex((anchor) => anchor.itemId === view.itemId) + 1;
          tally.anchorRanks.set(rank, (tally.anchorRanks.get(rank) ?? 0) + 1);
          anchorsText = `; heaviest anchors ${anchors
            .slice(0, 3)
            .map((anchor) => `${anchor.itemId} ${anchor.weight.toFixed(2)} (${anchor.types.join(',')})`)
            .join(', ')}`;
        }
        if (tally.examples.length < 5)
          tally.examples.push(
            `${miss}: ${view.returning ? 'returning' : 'new'} shopper ${view.userId} viewed ${view.itemId}; ` +
              `answer ${JSON.stringify(reply.items.map((item) => [item.itemId, item.because ?? []]))}${anchorsText}`,
          );
      }
      if (view.returning)
        lastItems.set(
          view.userId,
          reply.items.map((item) => item.itemId),
        );
    };
    const bareMixTurn: Turn = async (loop, sinks) => {
      const view = nextView();
      try {
        if (await postView(loop, view, sinks)) await timedRead(bareConnections[loop]!, '/bare', sinks);
      } finally {
        inTurn.delete(view.userId);
      }
    };
    const bareTurn: Turn = async (loop, sinks) => {
      await timedRead(bareConnections[loop]!, '/bare', sinks);
    };
    const computedTurn: Turn = async (loop, sinks) => {
      await timedRead(uncachedConnections[loop]!, recommendationsPath(pick(users)), sinks);
    };

    interface Phase {
      name: string;
      server: BenchServer;
      turn: Turn;
      postsEvents: boolean;
      reads: Figures;
      cpu: CpuSpent;
      /** the phase's measured slices, for the CPU profiles */
      windows: ProfileWindow[];
    }
    const phase = (name: string, server: BenchServer, turn: Turn, postsEvents: boolean): Phase => ({
      name,
      server,
      turn,
      postsEvents,
      reads: new Figures(),
      cpu: new CpuSpent(),
      windows: [],
    });
    const phases = [
      phase('bare GET, peak', bare, bareTurn, false),
      phase('festival mix: /v1/recommendations, each after its event', api, mixTurn, true),
      phase("ingest event + bare GET (the mix's turns, bare read)", bare, bareMixTurn, true),
      phase('/v1/recommendations, reply cache off, no events, peak', apiUncached, computedTurn, false),
    ] as const;
    const [barePhase, mixPhase, bareMixPhase, computedPhase] = phases;
    const events = new Figures();
    const tally = new Tally();
    /** A new slice's sinks for a phase's reads (and its events, when it posts any). */
    const sinksFor = (target: Phase, reads: Figures, eventFigures: Figures, tallyOf: Tally): Sinks => ({
      reads,
      readLatencies: reads.startSlice(),
      events: eventFigures,
      eventLatencies: target.postsEvents ? eventFigures.startSlice() : [],
      tally: tallyOf,
    });

    // Unmeasured: the JIT of every path, ingest's group commit and its first partitions.
    for (const target of phases) {
      const sinks = sinksFor(target, new Figures(), new Figures(), new Tally());
      await slice(WARMUP_SECONDS, (loop) => target.turn(loop, sinks));
    }
    console.log(
      `warm-up: ${users.length} returning shoppers once on each API process, then ${WARMUP_SECONDS} s of each ` +
        `phase; ${((Date.now() - warmStarted) / 1000).toFixed(0)} s in all. Then ${PHASE_SECONDS} s per phase in ` +
        `${ROUNDS} alternating slices, ${CONNECTIONS} closed loops; load average ${loadavg()[0]!.toFixed(1)}`,
    );

    let cacheHits = 0;
    let cacheAnswers = 0;
    const stopPerf = WITH_PERF
      ? perfRecord('machine', `${tmpdir()}/elevens-festival-${runId}.perf.data`)
      : null;
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of phases) {
        const sinks = sinksFor(target, target.reads, events, tally);
        const cacheBefore = target === mixPhase ? await replyCacheCounts(api.port) : null;
        const sharesBefore = cpuShares(target.server.pid, ingest.pid);
        const fromUs = monotonicUs();
        const seconds = await slice(PHASE_SECONDS / ROUNDS, (loop) => target.turn(loop, sinks));
        target.windows.push([fromUs, monotonicUs()]);
        const sharesAfter = cpuShares(target.server.pid, ingest.pid);
        target.cpu.add(sharesBefore, sharesAfter, target.postsEvents);
        target.reads.seconds += seconds;
        target.reads.addCpu(cpuBetween(sharesBefore.read, sharesAfter.read));
        if (target.postsEvents) {
          events.seconds += seconds;
          events.addCpu(cpuBetween(sharesBefore.ingest, sharesAfter.ingest));
        }
        if (cacheBefore !== null) {
          const cacheAfter = await replyCacheCounts(api.port);
          cacheHits += cacheAfter.hit - cacheBefore.hit;
          cacheAnswers += cacheAfter.hit + cacheAfter.miss - cacheBefore.hit - cacheBefore.miss;
        }
      }
    }

    const recording = stopPerf === null ? null : await stopPerf();
    const [bareFigures, mixFigures, bareMixFigures, computedFigures] = phases.map((target) =>
      target.reads.summary(),
    ) as [Summary, Summary, Summary, Summary];
    const fmt = (value: number | null) => (value === null ? '–' : String(Math.round(value)));
    const row = (name: string, f: Summary) =>
      `| ${name} | ${Math.round(f.rps)} | ${f.p50.toFixed(1)} | ${f.p99.toFixed(1)} | ${fmt(f.cpuUs)} | ${f.errors} |`;
    const cpuRatio = (f: Summary) =>
      f.cpuUs === null || bareFigures.cpuUs === null ? '–' : (f.cpuUs / bareFigures.cpuUs).toFixed(2);
    const memory = (server: BenchServer) => {
      const m = processMemoryMiB(server.pid);
      return m === null ? '–' : `${m.rss.toFixed(0)} MiB (peak ${m.peak.toFixed(0)} MiB)`;
    };
    const footprint = await replyCacheFootprint(redis, prefix);
    const mixRatio = mixFigures.rps / bareFigures.rps;
    const computedRatio = computedFigures.rps / bareFigures.rps;
    console.log(
      [
        '',
        '## bench:festival',
        '',
        '| phase | req/s | p50 ms | p99 ms | server CPU µs/req | errors |',
        '| --- | ---: | ---: | ---: | ---: | ---: |',
        row(barePhase.name, bareFigures),
        row(mixPhase.name, mixFigures),
        row(bareMixPhase.name, bareMixFigures),
        row(computedPhase.name, computedFigures),
        row('(the events of both mixes: POST /v1/events; ingest CPU)', events.summary()),
        '',
        "Where each phase's turns spend the two cores, µs of CPU per turn (read server: the phase's API or bare " +
          'route; client: this load generator; other: the rest of the machine):',
        '',
        `| phase | ${CPU_ROLES.map((role) => (role === 'read' ? 'read server' : role)).join(' | ')} | busy |`,
        `| --- |${CPU_ROLES.map(() => ' ---: |').join('')} ---: |`,
        ...phases.map((target) => {
          const perTurn = (ms: number) => Math.round((ms * 1000) / Math.max(1, target.reads.requests));
          const busy = [...target.cpu.ms].reduce((sum, [role, ms]) => (role === 'idle' ? sum : sum + ms), 0);
          return `| ${target.name} | ${CPU_ROLES.map((role) => perTurn(target.cpu.ms.get(role)!)).join(' | ')} | ${perTurn(busy)} |`;
        }),
        '',
        `reply cache hit rate in the mix: ${((100 * cacheHits) / Math.max(1, cacheAnswers)).toFixed(2)} % ` +
          `(${cacheHits} of ${cacheAnswers} answers)`,
        `answers that do not reflect the event before them: ${tally.missed} of ${tally.checked} ` +
          `(${MISSES.map((miss) => `${miss} ${tally.misses.get(miss)}`).join(', ')}); degraded answers: ${tally.degraded}`,
        ...(tally.anchorRanks.size === 0
          ? []
          : [
              `  the viewed item's rank among the anchors when in no because (0: not in the history): ${[
                ...tally.anchorRanks,
              ]
                .sort((a, b) => a[0] - b[0])
                .map(([rank, count]) => `#${rank} ${count}`)
                .join(', ')}`,
            ]),
        ...tally.examples.map((example) => `  ${example}`),
        `festival mix: recommendations ${mixRatio.toFixed(2)} × the bare route's throughput (target ≥ 0.30): ` +
          `${mixRatio >= 0.3 ? 'met' : 'MISSED'}; ${(mixFigures.rps / bareMixFigures.rps).toFixed(2)} × the bare ` +
          `route's in the same turns; server CPU per request ${cpuRatio(mixFigures)} × the bare route's`,
        `reply cache off, no events: ${computedRatio.toFixed(2)} × the bare route's throughput, server CPU per ` +
          `request ${cpuRatio(computedFigures)} × the bare route's`,
        `memory: api ${memory(api)}; api with the reply cache off ${memory(apiUncached)}; ingest ${memory(ingest)}; ` +
          `bare route ${memory(bare)}`,
        `reply cache in Redis at the end of the run: ${footprint.entries} answers stored ` +
          `(${(footprint.entryBytes / 2 ** 20).toFixed(1)} MiB of values), ${footprint.marks} first-miss marks ` +
          `(${(footprint.markBytes / 2 ** 20).toFixed(1)} MiB)`,
        `(${newShoppers} new shoppers in the run; p50/p99: medians of ${ROUNDS} slices' raw response times)`,
        ...(recording === null
          ? []
          : perfSections(recording, [
              ["the festival mix's API", { pid: api.pid }],
              ['ingest', { pid: ingest.pid }],
              ['Redis', { comm: 'redis-server' }],
              ['Postgres (all its processes)', { comm: 'postgres' }],
              ['the load generator', { pid: process.pid }],
            ])),
      ].join('\n'),
    );
    if (CPU_PROF_DIR) {
      // The servers write their profiles as they exit.
      await Promise.all(servers.map((server) => server.stop()));
      const section = (
        title: string,
        pid: number,
        windows: readonly ProfileWindow[],
        units: number,
        unit: string,
      ) =>
        `\n${title}:\n${profileSummary({ dir: CPU_PROF_DIR, pid, windows, units, unit, of: 'those slices' })}`;
      console.log(
        [
          section(
            "the festival mix's API, over the mix's slices",
            api.pid,
            mixPhase.windows,
            mixPhase.reads.requests,
            'read',
          ),
          section(
            'the API with the reply cache off, over its slices',
            apiUncached.pid,
            computedPhase.windows,
            computedPhase.reads.requests,
            'read',
          ),
          section(
            'ingest, over the slices of both mixes',
            ingest.pid,
            [...mixPhase.windows, ...bareMixPhase.windows],
            events.requests,
            'event',
          ),
        ].join('\n'),
      );
    }
    if (tally.missed > 0) process.exitCode = 1;
  } finally {
    for (const connection of connections) connection.close();
    await Promise.all(servers.map((server) => server.stop()));
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    await dropShopDatabase(databaseUrl());
  }
}

await main();
