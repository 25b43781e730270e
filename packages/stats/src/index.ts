export * from './report';
export * from './tests';
