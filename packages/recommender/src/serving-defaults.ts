/**
 * What `/v1/recommendations` runs with when RECS_* leave a setting out: the API's configuration defaults, and
 * what the build's quality gate and `elevens evaluate` assume of serving. Half-life and anchors were chosen by
 * offline evaluation (docs/evaluation.md).
 */
export const SERVING_DEFAULTS = Object.freeze({
  /** recent events read per user (RECS_HISTORY_LENGTH) */
  historyLength: 50,
  /**
   * = historyLength, so every history item read is an anchor: `recommend` excludes the anchors, not the rest of
   * the history (RECS_MAX_ANCHORS)
   */
  maxAnchors: 50,
  /**
   * in the sequence half, each distinct history item counts 0.4 × the next newer one: the last items predict
   * the next best in short sessions (RECS_POSITION_DECAY)
   */
  positionDecay: 0.4,
  /** half of the anchor weight follows the sequence, half the whole history (RECS_SEQUENCE_SHARE) */
  sequenceShare: 0.5,
  /** an event a week older than the user's newest counts half (RECS_HISTORY_HALF_LIFE_HOURS) */
  historyHalfLifeHours: 168,
  /** RECS_MAX_PER_CATEGORY */
  maxPerCategory: 4,
  /** none: a purchased item is not recommended again (RECS_REPURCHASABLE_CATEGORIES) */
  repurchasableCategories: Object.freeze([] as string[]),
});
