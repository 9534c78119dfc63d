import { z } from 'zod';
import type { Channel } from '../topology';
import {
  commonEnvSchema,
  retryEnvSchema,
  toCommonConfig,
  toRetryConfig,
  type CommonConfig,
  type RetryConfig,
} from './common';
import { envInt, parseEnv, type Env } from './env';

export const DEFAULT_METRICS_PORT = {
  email: 9101,
  telegram: 9102,
  push: 9103,
  webhook: 9104,
  scheduler: 9105,
} as const;

/** Per-lane worker concurrency and provider rate (0 = no limit) when not configured. */
const CHANNEL_DEFAULTS: Record<Channel, { concurrency: number; ratePerSecond: number }> = {
  email: { concurrency: 20, ratePerSecond: 0 },
  telegram: { concurrency: 30, ratePerSecond: 30 },
  push: { concurrency: 50, ratePerSecond: 0 },
  webhook: { concurrency: 50, ratePerSecond: 0 },
};

export interface ChannelWorkerConfig extends CommonConfig {
  channel: Channel;
  metricsPort: number;
  /** Jobs in flight per lane in this process. */
  concurrency: number;
  /** Provider-wide deliveries per second across all replicas; 0 means unlimited. */
  ratePerSecond: number;
  retry: RetryConfig;
}

const prefixOf = (channel: Channel) => channel.toUpperCase();

const workerStaticEnvSchema = commonEnvSchema.extend(retryEnvSchema.shape);

/** The variables a channel's worker reads, e.g. EMAIL_CONCURRENCY for email. */
export function loadChannelWorkerConfig(channel: Channel, env: Env): ChannelWorkerConfig {
  const defaults = CHANNEL_DEFAULTS[channel];
  const concurrencyVar = `${prefixOf(channel)}_CONCURRENCY`;
  const rateVar = `${prefixOf(channel)}_RATE_PER_SECOND`;
  const schema = workerStaticEnvSchema.extend({
    METRICS_PORT: envInt(DEFAULT_METRICS_PORT[channel], 0, 65535),
    [concurrencyVar]: envInt(defaults.concurrency, 1, 10_000),
    [rateVar]: envInt(defaults.ratePerSecond, 0, 1_000_000),
  });
  // The channel-specific names are computed, so read them back by name.
  const parsed = parseEnv(schema, env) as z.infer<typeof workerStaticEnvSchema> &
    Record<string, number>;
  return {
    ...toCommonConfig(parsed),
    channel,
    metricsPort: parsed.METRICS_PORT ?? DEFAULT_METRICS_PORT[channel],
    concurrency: parsed[concurrencyVar] ?? defaults.concurrency,
    ratePerSecond: parsed[rateVar] ?? defaults.ratePerSecond,
    retry: toRetryConfig(parsed),
  };
}

export interface EmailConfig {
  /** Pooled SMTP when set; otherwise messages are written as .eml files. */
  smtpUrl?: string;
  from: string;
  outboxDir: string;
}

const emailEnvSchema = z.object({
  SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
  EMAIL_FROM: z.string().min(3).default('Herald <herald@localhost>'),
  EMAIL_OUTBOX_DIR: z.string().default('./var/outbox'),
});

export function loadEmailConfig(env: Env): EmailConfig {
  const parsed = parseEnv(emailEnvSchema, env);
  return { smtpUrl: parsed.SMTP_URL, from: parsed.EMAIL_FROM, outboxDir: parsed.EMAIL_OUTBOX_DIR };
}
