/** The three kinds of traffic a storefront sends at midnight. */
export const TRAFFIC_KINDS = ['recommendations', 'events', 'push'] as const;
export type TrafficKind = (typeof TRAFFIC_KINDS)[number];

/** Share of the offered rate per kind; sums to 1. */
export type TrafficMix = Record<TrafficKind, number>;

export const DEFAULT_MIX: TrafficMix = { recommendations: 0.7, events: 0.25, push: 0.05 };

/** A stretch of constant offered rate; ramps are cut into several steps. */
export interface LoadStep {
  phase: string;
  startMs: number;
  durationMs: number;
  /** requests per second offered, all kinds together */
  rate: number;
}

export interface FestivalOptions {
  baseline: number;
  peak: number;
  durationMs: number;
  /** most steps per ramp; default 5 */
  rampSteps?: number;
  /** Phase and step boundaries fall on multiples of this (default 1 s), so the report's steps read as seconds. */
  granularityMs?: number;
}

/**
 * Shares of the total duration: the evening before, the countdown ramp, the first minutes after midnight at
 * peak, the ramp down, and the night after (still above baseline on a real festival, kept at baseline here).
 */
export const FESTIVAL_PHASES: readonly {
  phase: string;
  share: number;
  from: 'baseline' | 'peak';
  to: 'baseline' | 'peak';
}[] = [
  { phase: 'evening', share: 0.2, from: 'baseline', to: 'baseline' },
  { phase: 'countdown', share: 0.15, from: 'baseline', to: 'peak' },
  { phase: 'midnight', share: 0.3, from: 'peak', to: 'peak' },
  { phase: 'cool-down', share: 0.15, from: 'peak', to: 'baseline' },
  { phase: 'after', share: 0.2, from: 'baseline', to: 'baseline' },
];

/**
 * The festival's load steps: contiguous, covering the duration exactly, ramps cut into equal steps whose rate
 * is the ramp's value at the step's middle. A phase too short for one granule is left out.
 */
export function festivalSteps(options: FestivalOptions): LoadStep[] {
  const rampSteps = Math.max(1, options.rampSteps ?? 5);
  const granule = options.granularityMs ?? 1_000;
  const snap = (ms: number) => Math.min(options.durationMs, Math.round(ms / granule) * granule);
  const steps: LoadStep[] = [];
  let startMs = 0;
  let shareSoFar = 0;
  FESTIVAL_PHASES.forEach((p, i) => {
    shareSoFar += p.share;
    const endMs =
      i === FESTIVAL_PHASES.length - 1
        ? options.durationMs
        : Math.max(startMs, snap(shareSoFar * options.durationMs));
    const from = options[p.from];
    const to = options[p.to];
    const phaseMs = endMs - startMs;
    const count = from === to ? 1 : Math.max(1, Math.min(rampSteps, Math.floor(phaseMs / granule)));
    const boundary = (s: number) =>
      s === count ? endMs : startMs + Math.round((phaseMs * s) / count / granule) * granule;
    for (let s = 0; s < count; s++) {
      const rate = from + ((to - from) * (s + 0.5)) / count;
      if (boundary(s + 1) > boundary(s))
        steps.push({ phase: p.phase, startMs: boundary(s), durationMs: boundary(s + 1) - boundary(s), rate });
    }
    startMs = endMs;
  });
  return steps;
}

/** One request of one kind as the schedule has it: when it is due, in ms from the run's start, and in which step. */
export interface DueRequest {
  atMs: number;
  step: number;
}

/**
 * One kind's requests over the steps, in order. The kind is offered at `share` of each step's rate, and request n
 * (from 0) is due once n + ½ requests have been offered: 1 / rate apart within a step, each in the middle of its
 * share of time. Counting across steps rather than rounding each step's count is what sends a kind offered under
 * one request a step (push at 5 % of 5 req/s in 1 s steps): every step gets within one request of its share, and
 * the run within half of one of its total.
 */
export function* dueRequests(steps: readonly LoadStep[], share: number): Generator<DueRequest> {
  let offeredBefore = 0;
  let n = 0;
  for (const [index, step] of steps.entries()) {
    const perMs = (step.rate * share) / 1000;
    if (!(perMs > 0)) continue;
    const offeredAfter = offeredBefore + perMs * step.durationMs;
    const endMs = step.startMs + step.durationMs;
    // min: a rounding error must not put a request past its step's end
    for (; n + 0.5 <= offeredAfter; n++)
      yield { atMs: Math.min(endMs, step.startMs + (n + 0.5 - offeredBefore) / perMs), step: index };
    offeredBefore = offeredAfter;
  }
}

/** `recommendations=70,events=25,push=5` (any positive weights) as shares summing to 1. */
export function parseMix(text: string): TrafficMix {
  const weights: TrafficMix = { recommendations: 0, events: 0, push: 0 };
  for (const part of text.split(',')) {
    const [name, value] = part.split('=').map((s) => s.trim());
    if (!TRAFFIC_KINDS.includes(name as TrafficKind))
      throw new Error(
        `--mix: unknown traffic kind ${JSON.stringify(name)} (use ${TRAFFIC_KINDS.join(', ')})`,
      );
    const weight = Number(value);
    if (!Number.isFinite(weight) || weight < 0) throw new Error(`--mix: ${name} needs a non-negative number`);
    weights[name as TrafficKind] = weight;
  }
  const total = TRAFFIC_KINDS.reduce((sum, k) => sum + weights[k], 0);
  if (total <= 0) throw new Error('--mix: at least one kind needs a positive share');
  return Object.fromEntries(TRAFFIC_KINDS.map((k) => [k, weights[k] / total])) as TrafficMix;
}
