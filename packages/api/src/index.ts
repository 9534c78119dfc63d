export * from './app';
export * from './http-server';
export * from './auth';
export * from './problem';
export * from './notifications/notification-request';
export * from './notifications/plan-notification';
export * from './mint-token';
export { DOCS_PATH, OPENAPI_PATH } from './routes/api-docs';
