export * from './scheduler';
export * from './outbox-relay';
export * from './campaign-fanout';
export * from './campaign-page-relay';
export * from './maintenance';
export * from './retention';
export * from './outbox-gauges';
