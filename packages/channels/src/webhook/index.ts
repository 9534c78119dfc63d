export * from './webhook-signature';
export * from './ssrf-guard';
export * from './classify-webhook-error';
export * from './webhook-envelope';
export * from './webhook-http-client';
export * from './webhook-provider';
