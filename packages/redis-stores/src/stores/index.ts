export * from './api-key-mirror';
export * from './boost-rules-mirror';
export * from './live-state-store';
export * from './rate-limit-counters';
export * from './redis-health';
export * from './reply-cache-store';
export * from './trending-counts';
export * from './unservable-items';
