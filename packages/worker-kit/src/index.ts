export * from './channel-worker';
export * from './process-delivery';
export * from './job-outcome';
export * from './circuit';
export * from './dead-letters';
export * from './provider-budget';
export * from './address-pacer';
export * from './queue-gauges';
