import { z } from 'zod';

/** Short ids and names: answer ids carry them (see answer-id.ts), so they are kept within its room. */
export const ExperimentId = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,20}$/, '1–20 letters, digits and _ . : -')
  .meta({ example: 'halflife-72h' });
/**
 * The id a new or replaced experiment may take: not `.` or `..`, which are dot segments a client normalising the
 * URL path (curl, browsers; `%2E` too) resolves away, so no such client could read or delete it. Ids stored
 * before this rule stay readable and deletable under `ExperimentId`.
 */
export const NewExperimentId = z
  .string()
  .regex(/^(?!\.\.?$)[A-Za-z0-9_.:-]{1,20}$/, "1–20 letters, digits and _ . : -, not '.' or '..'")
  .meta({ example: 'halflife-72h' });
export const ArmName = z.string().regex(/^[A-Za-z0-9_.:-]{1,16}$/, '1–16 letters, digits and _ . : -');
/** Where answers are shown: the recommendation `context` (home, product, cart) or a storefront's own name. */
export const Placement = z.string().regex(/^[A-Za-z0-9_.:-]{1,16}$/, '1–16 letters, digits and _ . : -');

/**
 * Algorithms an arm may name. `popular` and `trending` do not personalize: only experiments all of whose arms
 * serve one of them take users without personalization consent.
 */
export const ARM_ALGORITHMS = [
  'cosine',
  'jaccard',
  'llr',
  'swing',
  'als',
  'ease',
  'popular',
  'trending',
] as const;
export const NON_PERSONALIZING_ALGORITHMS: ReadonlySet<string> = new Set(['popular', 'trending']);

/**
 * One minute. A shorter half-life leaves every event but those of the user's newest minute at the floor weight,
 * an arm testing no history weighting at all; below it lie subnormal half-lives (1e-320) and their edge cases.
 */
export const MIN_HISTORY_HALF_LIFE_HOURS = 1 / 60;

/** Serving settings an arm may override (the RECS_* variables of the api, by their meaning). */
export const ArmSettings = z
  .strictObject({
    historyLength: z.number().int().min(1).max(200).optional(),
    maxAnchors: z.number().int().min(1).max(200).optional(),
    positionDecay: z.number().min(0.05).max(1).optional(),
    sequenceShare: z.number().min(0).max(1).optional(),
    historyHalfLifeHours: z
      .number()
      .min(MIN_HISTORY_HALF_LIFE_HOURS, 'at least one minute (1/60 hour)')
      .max(100_000)
      .optional(),
    maxPerCategory: z.number().int().min(1).max(100).optional(),
  })
  .meta({ id: 'ArmSettings' });
export type ArmSettings = z.infer<typeof ArmSettings>;

/**
 * One user in ten thousand. A smaller share is a typo rather than an arm: reached by next to no user, its report
 * could tell nothing; below it lie subnormal shares (1e-320) and their edge cases.
 */
export const MIN_ARM_SHARE = 0.0001;

/**
 * An arm without `algorithm`, `modelVersion` or `settings` serves the default configuration. An arm names at
 * most one model: a personalizing `algorithm` (served from the model line of that name, `elevens build --model
 * <algorithm>`) or a `modelVersion` (that published version, of any line); see `armModel`.
 */
export const ExperimentArm = z
  .strictObject({
    name: ArmName,
    share: z
      .number()
      .min(MIN_ARM_SHARE, 'at least 0.0001 (one user in ten thousand)')
      .max(1)
      .meta({ description: 'Share of the traffic, 0.0001–1; the shares sum to 1.' }),
    algorithm: z.enum(ARM_ALGORITHMS).optional().meta({
      description:
        'popular or trending: those lists, not personalized; any other: the model line of that name (elevens build --model <algorithm>).',
    }),
    modelVersion: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .meta({ description: 'A published model version (of any line) to serve.' }),
    settings: ArmSettings.optional(),
  })
  .meta({ id: 'ExperimentArm' });
export type ExperimentArm = z.infer<typeof ExperimentArm>;

const Instant = z.iso.datetime({ offset: true });
export const MAX_ARMS = 10;
/** How far the shares' sum may be from 1 (shares such as 1/3 are written with rounding). */
export const SHARE_SUM_TOLERANCE = 1e-6;

/**
 * `PUT /v1/experiments/:id`. Shape and ranges are checked here (400); the rules a client can break with a
 * well-formed body — shares not summing to 1, `until` not after `from`, repeated arm names — are checked by
 * `experimentProblem`, answered 400 as well, and overlap with other experiments by the store (409).
 */
export const ExperimentInput = z
  .strictObject({
    arms: z.array(ExperimentArm).min(2).max(MAX_ARMS),
    placement: Placement.optional().meta({ description: 'Default: every placement.' }),
    from: Instant.optional().meta({
      description:
        'Start (inclusive); default: the stored start of an existing experiment, now for a new one.',
    }),
    until: Instant.optional().meta({ description: 'End (exclusive); default: until deleted.' }),
  })
  .meta({
    id: 'ExperimentBody',
    examples: [
      {
        arms: [
          { name: 'control', share: 0.5 },
          { name: 'b', share: 0.5, settings: { historyHalfLifeHours: 72 } },
        ],
      },
    ],
  });
export type ExperimentInput = z.infer<typeof ExperimentInput>;

/** Why a well-formed experiment is refused, or null. */
export function experimentProblem(input: ExperimentInput): string | null {
  const sum = input.arms.reduce((total, arm) => total + arm.share, 0);
  if (Math.abs(sum - 1) > SHARE_SUM_TOLERANCE) return `arms: the shares sum to ${sum}, not 1`;
  const names = new Set(input.arms.map((arm) => arm.name));
  if (names.size !== input.arms.length) return 'arms: two arms have the same name';
  const twoModels = input.arms.findIndex(
    (arm) => arm.modelVersion !== undefined && arm.algorithm !== undefined,
  );
  if (twoModels >= 0)
    return `arms.${twoModels}: name one model, an algorithm (its model line) or a modelVersion, not both`;
  if (
    input.from !== undefined &&
    input.until !== undefined &&
    Date.parse(input.until) <= Date.parse(input.from)
  )
    return 'until: must be after from';
  return null;
}

export const ExperimentParams = z.object({ id: ExperimentId });
/** `PUT /v1/experiments/:id`: the id it stores is one a client can reach (`NewExperimentId`). */
export const ExperimentPutParams = z.object({ id: NewExperimentId });

/**
 * An arm as stored and answered: one stored before `MIN_ARM_SHARE` or `MIN_HISTORY_HALF_LIFE_HOURS` may hold a
 * smaller value, and stays readable (an answer that failed its schema would be a 500 for the whole list).
 */
const StoredExperimentArm = ExperimentArm.extend({
  share: z.number().gt(0).max(1),
  settings: ArmSettings.extend({
    historyHalfLifeHours: z.number().positive().max(100_000).optional(),
  }).optional(),
});

export const Experiment = z
  .object({
    id: ExperimentId,
    arms: z.array(StoredExperimentArm),
    placement: z.string().nullable(),
    from: z.string().nullable(),
    until: z.string().nullable(),
    status: z.enum(['scheduled', 'running', 'ended']),
    updatedBy: z.string().nullable(),
    updatedAt: z.string(),
    version: z.number().int().meta({ description: 'The experiment set version this change produced.' }),
  })
  .meta({ id: 'Experiment' });
export type Experiment = z.infer<typeof Experiment>;

export const ExperimentList = z
  .object({ version: z.number().int(), experiments: z.array(Experiment) })
  .meta({ id: 'ExperimentList' });
export type ExperimentList = z.infer<typeof ExperimentList>;

export const DeletedExperiment = z.object({
  id: ExperimentId,
  deleted: z.literal(true),
  version: z.number().int(),
});

/** The status of a window `[fromMs, untilMs)` at `nowMs` (null bounds: open). */
export function experimentStatus(
  fromMs: number | null,
  untilMs: number | null,
  nowMs: number,
): Experiment['status'] {
  if (fromMs !== null && nowMs < fromMs) return 'scheduled';
  if (untilMs !== null && nowMs >= untilMs) return 'ended';
  return 'running';
}

/**
 * Whether two experiments may not run together: the same placement (an experiment without one takes every
 * placement) and windows that share an instant (null bounds are open).
 */
export function experimentsOverlap(
  a: { placement: string | null; fromMs: number | null; untilMs: number | null },
  b: { placement: string | null; fromMs: number | null; untilMs: number | null },
): boolean {
  const samePlacement = a.placement === null || b.placement === null || a.placement === b.placement;
  const aFrom = a.fromMs ?? Number.NEGATIVE_INFINITY;
  const bFrom = b.fromMs ?? Number.NEGATIVE_INFINITY;
  const aUntil = a.untilMs ?? Number.POSITIVE_INFINITY;
  const bUntil = b.untilMs ?? Number.POSITIVE_INFINITY;
  return samePlacement && aFrom < bUntil && bFrom < aUntil;
}

/** The assignment line: `assignmentBits` puts each user on one of its 2^53 points. */
export const ASSIGNMENT_POINTS = 2 ** 53;

/**
 * A whole number in [0, 2^53) from the experiment id and the user id: cyrb53 (two 32-bit multiply-xorshift lanes
 * over the UTF-16 code units). The same pair gives the same number in every process, and a new experiment
 * reshuffles users independently of the others.
 */
export function assignmentBits(experimentId: string, userId: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  const mix = (code: number) => {
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  };
  for (let i = 0; i < experimentId.length; i++) mix(experimentId.charCodeAt(i));
  mix(0x1f);
  for (let i = 0; i < userId.length; i++) mix(userId.charCodeAt(i));
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 2097152 * (h2 >>> 0) + (h1 >>> 11);
}

/** `assignmentBits` as a number in [0, 1). */
export const assignmentPoint = (experimentId: string, userId: string): number =>
  assignmentBits(experimentId, userId) / ASSIGNMENT_POINTS;

/**
 * The points of the assignment line each arm holds, by the arms' positions: sorted, disjoint slices [start, end)
 * of whole numbers that together cover [0, 2^53) once. Stored with the experiment, so that an edit of its arms
 * moves only the users it must (`resliceArms`).
 */
export type ArmSlices = [number, number][][];

/**
 * Where each arm's slice ends when the arms divide a line of `points` by their shares, in order: on the whole line
 * the bounds `assignArm` always drew (a point below `upper` is a number of bits below `ceil(upper · 2^53)`), the
 * last at the line's end.
 */
function shareBounds(arms: readonly { share: number }[], points = ASSIGNMENT_POINTS): number[] {
  const total = arms.reduce((sum, arm) => sum + arm.share, 0);
  let upper = 0;
  return arms.map((arm, i) => {
    upper += arm.share / total;
    return i === arms.length - 1 ? points : Math.min(points, Math.ceil(upper * points));
  });
}

const pointsIn = (slices: readonly [number, number][]) =>
  slices.reduce((sum, [start, end]) => sum + (end - start), 0);

/**
 * How many points each of `arms` holds after an edit: an arm whose share is unchanged keeps as many as it held (so
 * an edit moves none of its users, and one that only reorders the arms no one), the others divide the rest by
 * their shares; with none changed, the last arm takes what removed arms held.
 */
function sliceTargets(
  previous: readonly { name: string; share: number }[],
  previousSlices: ArmSlices,
  arms: readonly { name: string; share: number }[],
): number[] {
  const before = new Map(
    previous.map((arm, p) => [arm.name, { arm, points: pointsIn(previousSlices[p] ?? []) }]),
  );
  const targets = arms.map((arm) => {
    const was = before.get(arm.name);
    return was !== undefined && was.arm.share === arm.share ? was.points : -1;
  });
  const kept = targets.reduce((sum, points) => sum + Math.max(0, points), 0);
  const rest = Math.max(0, ASSIGNMENT_POINTS - kept);
  const changed = targets.flatMap((points, i) => (points < 0 ? [i] : []));
  if (changed.length === 0) {
    targets[targets.length - 1]! += rest;
    return targets;
  }
  let bound = 0;
  shareBounds(
    changed.map((i) => arms[i]!),
    rest,
  ).forEach((end, k) => {
    targets[changed[k]!] = Math.max(0, end - bound);
    bound = Math.max(bound, end);
  });
  return targets;
}

/** The arms dividing the line by their shares, in order: an experiment's slices until its arms are edited. */
export function sharesAsSlices(arms: readonly { share: number }[]): ArmSlices {
  let start = 0;
  return shareBounds(arms).map((end) => {
    const slice: [number, number][] = end > start ? [[start, end]] : [];
    start = Math.max(start, end);
    return slice;
  });
}

/**
 * The slices of `arms` after an edit of `previous` (with `previousSlices`), arms matched by name: each arm keeps
 * the points it held, up to its new share; the points let go (an arm shrinking or removed) go to the arms that
 * grow or are new. So a user changes arm only when theirs shrank, and then only to one that grew; an edit that
 * changes no share, or only the arms' order, moves no one.
 */
export function resliceArms(
  previous: readonly { name: string; share: number }[],
  previousSlices: ArmSlices,
  arms: readonly { name: string; share: number }[],
): ArmSlices {
  const targets = sliceTargets(previous, previousSlices, arms);
  const position = new Map(arms.map((arm, i) => [arm.name, i]));
  const slices: ArmSlices = arms.map(() => []);
  const held = arms.map(() => 0);
  const free: [number, number][] = [];
  previous.forEach((arm, p) => {
    const i = position.get(arm.name);
    for (const [start, end] of previousSlices[p] ?? []) {
      const keep = i === undefined ? 0 : Math.max(0, Math.min(end - start, targets[i]! - held[i]!));
      if (keep > 0) {
        slices[i!]!.push([start, start + keep]);
        held[i!]! += keep;
      }
      if (start + keep < end) free.push([start + keep, end]);
    }
  });
  free.sort((a, b) => a[0] - b[0]);
  let next = 0;
  arms.forEach((_, i) => {
    while (held[i]! < targets[i]! && next < free.length) {
      const [start, end] = free[next]!;
      const take = Math.min(end - start, targets[i]! - held[i]!);
      slices[i]!.push([start, start + take]);
      held[i]! += take;
      if (start + take < end) free[next] = [start + take, end];
      else next++;
    }
  });
  return slices.map(joined);
}

/** An arm's slices sorted, those that touch made one. */
function joined(slices: [number, number][]): [number, number][] {
  const sorted = [...slices].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [start, end] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last[1] === start) last[1] = end;
    else out.push([start, end]);
  }
  return out;
}

/**
 * The arm a point of the line (`assignmentBits`) falls in, by `slices`: a binary search over the slices' ends,
 * built once per experiment set. Slices that leave a point out (stored otherwise) still give it an arm.
 */
export function armPicker<A>(arms: readonly A[], slices: ArmSlices): (bits: number) => A {
  const owned = slices
    .flatMap((armSlices, i) => armSlices.map(([start, end]) => ({ start, end, arm: arms[i]! })))
    .filter((slice) => slice.arm !== undefined && slice.end > slice.start)
    .sort((a, b) => a.start - b.start);
  const ends = Float64Array.from(owned, (slice) => slice.end);
  const owners = owned.map((slice) => slice.arm);
  const last = arms[arms.length - 1]!;
  return (bits) => {
    let low = 0;
    let high = ends.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (ends[middle]! > bits) high = middle;
      else low = middle + 1;
    }
    return owners[low] ?? last;
  };
}

/**
 * The arm a user is in: deterministic and sticky (a hash of both ids), each arm taking its share; by `slices`
 * when given (an experiment's stored ones), else by the shares in order.
 */
export function assignArm<A extends { share: number }>(
  experimentId: string,
  userId: string,
  arms: readonly A[],
  slices: ArmSlices = sharesAsSlices(arms),
): A {
  return armPicker(arms, slices)(assignmentBits(experimentId, userId));
}

/**
 * The model an arm is served from: the version it names, the model line of the personalizing algorithm it
 * names, or null (the default line's current model; popular and trending arms read their lists from it too).
 */
export type ArmModel = { kind: 'version'; version: string } | { kind: 'line'; line: string };

export function armModel(arm: Pick<ExperimentArm, 'algorithm' | 'modelVersion'>): ArmModel | null {
  if (arm.modelVersion !== undefined) return { kind: 'version', version: arm.modelVersion };
  if (arm.algorithm !== undefined && !NON_PERSONALIZING_ALGORITHMS.has(arm.algorithm))
    return { kind: 'line', line: arm.algorithm };
  return null;
}

/** Whether serving an arm uses the user's history: any arm but one serving a non-personalizing algorithm. */
export const armPersonalizes = (arm: Pick<ExperimentArm, 'algorithm'>): boolean =>
  arm.algorithm === undefined || !NON_PERSONALIZING_ALGORITHMS.has(arm.algorithm);
