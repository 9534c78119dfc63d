export * from './push-provider';
export { classifyPushError } from './classify-push-error';
export * from './push-timeout-error';
