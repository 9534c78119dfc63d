import nodemailer from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer';
import { EmlFileTransport } from './eml-file-transport';

export interface EmailTransportOptions {
  /** smtp:// or smtps:// URL; when absent, messages are written to `outboxDir`. */
  smtpUrl?: string;
  outboxDir: string;
  /** SMTP connections in the pool: one per concurrent delivery. */
  maxConnections: number;
}

// The transporter type differs between SMTP and file output; the provider needs only sendMail and close.
export type EmailTransport = Pick<Mail<unknown>, 'sendMail' | 'close'>;

/**
 * One transporter per process. SMTP is pooled (connections are reused across
 * messages); a dropped connection requeues a message at most once, after
 * which the error reaches the worker, which owns retries.
 */
export function createEmailTransport(options: EmailTransportOptions): EmailTransport {
  if (options.smtpUrl === undefined) {
    return nodemailer.createTransport(new EmlFileTransport(options.outboxDir));
  }
  return nodemailer.createTransport({
    url: options.smtpUrl,
    pool: true,
    maxConnections: options.maxConnections,
    maxMessages: 1000,
    maxRequeues: 1,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
}

export function describeEmailTransport(
  options: Pick<EmailTransportOptions, 'smtpUrl' | 'outboxDir'>,
): string {
  if (options.smtpUrl === undefined) return `eml files in ${options.outboxDir}`;
  const url = new URL(options.smtpUrl);
  return `SMTP ${url.protocol}//${url.host}`;
}
