export * from './database';
export * from './migrate';
export * from './statuses';
export * from './notification-store';
export * from './notification-view';
export * from './recipient-store';
export * from './delivery-ledger';
export * from './outbox';
