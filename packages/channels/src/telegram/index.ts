export * from './telegram-escape';
export * from './telegram-text-length';
export * from './classify-telegram-error';
export * from './telegram-bot-api';
export * from './telegram-provider';
