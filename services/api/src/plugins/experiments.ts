import type { StoredExperiment } from '@elevens/db';
import { armPersonalizes, armPicker, assignmentBits, type ExperimentArm } from '@elevens/domain';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { pollEvery } from './poll';

declare module 'fastify' {
  interface FastifyInstance {
    experiments: ServedExperiments;
  }
}

export interface ExperimentAssignment {
  experiment: string;
  arm: ExperimentArm;
}

export interface ServedExperiments {
  /** The experiment set as last read: its version and its experiments not ended at the last poll. */
  current(): { version: number; experiments: readonly StoredExperiment[] };
  /**
   * The arm `userId` is in at `placement` now: the one experiment running there (the store refuses overlaps)
   * and its arm by the experiment's stored slices (`assignArm`). Null when none runs, and when the user gave no personalization consent and
   * any arm of it personalizes (such users are left out of the experiment, not moved to another arm, so the
   * shares of those who are in stay as set and every arm draws on the same users).
   */
  assign(userId: string, placement: string, consent: boolean): ExperimentAssignment | null;
  /**
   * The first start or end of a held experiment after `nowMs` (Infinity: none): `assign` may answer otherwise
   * from then, though the set's version stays, so answer caches must not outlive it.
   */
  changesAfter(nowMs: number): number;
  /** Reads the set again, after any read under way has applied (a call's own read failing rejects it). */
  refresh(): Promise<void>;
}

export interface ExperimentsPluginOptions {
  pollMs: number;
  /** the clock windows are checked against (epoch ms); tests fix it */
  now?: () => number;
}

/**
 * Serves the experiment set from memory: one read of the version row per poll, the set re-read only when a
 * PUT or DELETE bumped it, so changes reach serving within one poll interval in every api process.
 */
export const experimentsPlugin = fp(
  async (app: FastifyInstance, options: ExperimentsPluginOptions) => {
    const now = options.now ?? Date.now;
    let version = -1;
    let experiments: StoredExperiment[] = [];
    // Each held experiment's arm lookup, built once per read of the set rather than per request.
    let pickers = new Map<StoredExperiment, (bits: number) => ExperimentArm>();
    const hold = (held: StoredExperiment[]) => {
      experiments = held;
      pickers = new Map(held.map((e) => [e, armPicker(e.arms, e.slices)]));
    };

    const notEnded = (nowMs: number) => (e: StoredExperiment) => e.untilMs === null || e.untilMs > nowMs;
    const refreshOnce = async () => {
      const stored = await app.experimentStore.version();
      if (stored !== version) {
        const all = await app.experimentStore.list();
        hold(all.filter(notEnded(now())));
        version = stored;
        return;
      }
      // An experiment reaching its end changes no version: it is let go here, and with it the model it names.
      const nowMs = now();
      if (!experiments.every(notEnded(nowMs))) hold(experiments.filter(notEnded(nowMs)));
    };
    // One refresh at a time, each reading after the one before has applied: a poll that read before a change
    // would otherwise finish after the re-read that follows the change and put the older set (and version) back.
    let refreshing: Promise<void> = Promise.resolve();
    const refresh = () => {
      refreshing = refreshing.catch(() => {}).then(refreshOnce);
      return refreshing;
    };

    const assign = (userId: string, placement: string, consent: boolean): ExperimentAssignment | null => {
      const nowMs = now();
      const running = experiments.find(
        (e) =>
          (e.placement === null || e.placement === placement) &&
          (e.fromMs === null || e.fromMs <= nowMs) &&
          (e.untilMs === null || nowMs < e.untilMs),
      );
      if (running === undefined) return null;
      // Out of every arm, not only the personalizing ones: kept in the others, they would swell those arms past
      // their share with users the personalizing arms never get.
      if (!consent && running.arms.some(armPersonalizes)) return null;
      return { experiment: running.id, arm: pickers.get(running)!(assignmentBits(running.id, userId)) };
    };

    const changesAfter = (nowMs: number): number => {
      let next = Number.POSITIVE_INFINITY;
      // On every stored answer: two fields per experiment, no array per call.
      for (const e of experiments) {
        if (e.fromMs !== null && e.fromMs > nowMs && e.fromMs < next) next = e.fromMs;
        if (e.untilMs !== null && e.untilMs > nowMs && e.untilMs < next) next = e.untilMs;
      }
      return next;
    };

    app.decorate('experiments', {
      current: () => ({ version: Math.max(version, 0), experiments }),
      assign,
      changesAfter,
      refresh,
    });
    await pollEvery(app, options.pollMs, 'could not read the experiments', refresh);
  },
  { name: 'elevens-experiments', dependencies: ['elevens-db'] },
);
