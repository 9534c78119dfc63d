export * from './channel-worker';
export * from './process-delivery';
export * from './job-outcome';
