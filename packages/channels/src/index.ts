export * from './provider';
export * from './email/classify-smtp-error';
export * from './email/email-transport';
export * from './email/email-provider';
export * from './email/eml-file-transport';
export * from './telegram';
export * from './push';
export * from './webhook';
