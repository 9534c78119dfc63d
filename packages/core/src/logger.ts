import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * JSON logs on stdout. Message bodies, addresses and tokens are never logged;
 * the redaction list is a second line of defence, not the first.
 */
export function createLogger(service: string, level: string = 'info'): Logger {
  return pino({
    level,
    base: { service },
    redact: {
      paths: [
        'req.headers.authorization',
        'headers.authorization',
        '*.password',
        '*.token',
        '*.secret',
      ],
      censor: '[redacted]',
    },
    serializers: { err: pino.stdSerializers.err },
  });
}
