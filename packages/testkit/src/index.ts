export * from './wait-for';
export * from './test-database';
export * from './redis-namespace';
export * from './tokens';
export * from './smtp-sink';
export * from './harness';
