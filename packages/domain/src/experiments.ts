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

/**
 * A number in [0, 1) from the experiment id and the user id: cyrb53 (two 32-bit multiply-xorshift lanes over
 * the UTF-16 code units), 53 bits. The same pair gives the same number in every process, and a new experiment
 * reshuffles users independently of the others.
 */
export function assignmentPoint(experimentId: string, userId: string): number {
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
  const bits = 2097152 * (h2 >>> 0) + (h1 >>> 11);
  return bits / 2 ** 53;
}

/** The arm a user is in: deterministic and sticky (a hash of both ids), each arm taking its share. */
export function assignArm<A extends { share: number }>(
  experimentId: string,
  userId: string,
  arms: readonly A[],
): A {
  const point = assignmentPoint(experimentId, userId);
  const total = arms.reduce((sum, arm) => sum + arm.share, 0);
  let upper = 0;
  for (const arm of arms) {
    upper += arm.share / total;
    if (point < upper) return arm;
  }
  return arms[arms.length - 1]!;
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
