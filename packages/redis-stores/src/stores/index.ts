export * from './boost-rules-mirror';
export * from './live-state-store';
export * from './reply-cache-store';
export * from './trending-counts';
export * from './unservable-items';
