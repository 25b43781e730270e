export * from './boost-rule-store';
export * from './catalog-items';
export * from './event-partitions';
export * from './experiment-store';
export * from './model-run-log';
export * from './push-config-store';
export * from './rollup-store';
export * from './user-store';
