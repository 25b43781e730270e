export { MetricAccumulator, type MetricSummary } from './accumulator';
export {
  catalogCoverage,
  hitRateAtK,
  mrrAtK,
  ndcgAtK,
  type RankedList,
  rankOf,
  recallAtK,
} from './metrics';
export {
  type EvalCase,
  type EvalEvent,
  type EvalSplit,
  type LeaveLastOutOptions,
  type NextEventOptions,
  nextEventSplit,
  temporalLeaveLastOut,
} from './split';
export { formatMetricTable, type MetricTableRow } from './table';
