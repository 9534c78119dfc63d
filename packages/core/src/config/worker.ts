import { z } from 'zod';
import type { Channel } from '../topology';
import {
  breakerEnvSchema,
  commonEnvSchema,
  retryEnvSchema,
  toBreakerConfig,
  toCommonConfig,
  toRetryConfig,
  type BreakerConfig,
  type CommonConfig,
  type RetryConfig,
} from './common';
import { envBool, envInt, parseEnv, type Env } from './env';

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
  breaker: BreakerConfig;
  /** How long a job's lock lasts without renewal: a killed worker's jobs are recovered after it. */
  jobLockMs: number;
  /** How often workers look for jobs whose lock expired (stalled) and put them back. */
  stalledCheckMs: number;
}

const prefixOf = (channel: Channel) => channel.toUpperCase();

const workerStaticEnvSchema = commonEnvSchema
  .extend(retryEnvSchema.shape)
  .extend(breakerEnvSchema.shape);

/** The variables a channel's worker reads, e.g. EMAIL_CONCURRENCY for email. */
export function loadChannelWorkerConfig(channel: Channel, env: Env): ChannelWorkerConfig {
  const defaults = CHANNEL_DEFAULTS[channel];
  const concurrencyVar = `${prefixOf(channel)}_CONCURRENCY`;
  const rateVar = `${prefixOf(channel)}_RATE_PER_SECOND`;
  const schema = workerStaticEnvSchema.extend({
    METRICS_PORT: envInt(DEFAULT_METRICS_PORT[channel], 0, 65535),
    JOB_LOCK_MS: envInt(30_000, 500, 3_600_000),
    STALLED_CHECK_MS: envInt(30_000, 100, 3_600_000),
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
    breaker: toBreakerConfig(parsed),
    jobLockMs: parsed.JOB_LOCK_MS ?? 30_000,
    stalledCheckMs: parsed.STALLED_CHECK_MS ?? 30_000,
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

export interface TelegramConfig {
  /** Unset: the channel is disabled (its worker idles and says so). */
  botToken?: string;
  apiUrl: string;
  /** Telegram allows one message per second per chat. */
  perChatIntervalMs: number;
  timeoutMs: number;
}

const telegramEnvSchema = z.object({
  TELEGRAM_BOT_TOKEN: z
    .string()
    .regex(/^\d+:[\w-]+$/, 'looks like 123456:ABC-DEF…')
    .optional(),
  TELEGRAM_API_URL: z.url({ protocol: /^https?$/ }).default('https://api.telegram.org'),
  TELEGRAM_PER_CHAT_INTERVAL_MS: envInt(1000, 0, 60_000),
  TELEGRAM_TIMEOUT_MS: envInt(10_000, 100, 120_000),
});

export function loadTelegramConfig(env: Env): TelegramConfig {
  const parsed = parseEnv(telegramEnvSchema, env);
  return {
    botToken: parsed.TELEGRAM_BOT_TOKEN,
    apiUrl: parsed.TELEGRAM_API_URL.replace(/\/$/, ''),
    perChatIntervalMs: parsed.TELEGRAM_PER_CHAT_INTERVAL_MS,
    timeoutMs: parsed.TELEGRAM_TIMEOUT_MS,
  };
}

export interface PushConfig {
  /** Unset: the channel is disabled. */
  vapid?: { publicKey: string; privateKey: string; subject: string };
  /** Seconds a push service keeps an undelivered message, per lane. */
  ttlSeconds: { transactional: number; campaign: number };
  timeoutMs: number;
}

const pushEnvSchema = z
  .object({
    VAPID_PUBLIC_KEY: z
      .string()
      .regex(/^[A-Za-z0-9_-]{80,100}$/, 'a base64url P-256 public key')
      .optional(),
    VAPID_PRIVATE_KEY: z
      .string()
      .regex(/^[A-Za-z0-9_-]{40,50}$/, 'a base64url P-256 private key')
      .optional(),
    VAPID_SUBJECT: z
      .string()
      .regex(/^(mailto:|https:\/\/)/, 'a mailto: or https: URL')
      .default('mailto:herald@localhost'),
    PUSH_TTL_TRANSACTIONAL_SECONDS: envInt(900, 0, 2_419_200),
    PUSH_TTL_CAMPAIGN_SECONDS: envInt(86_400, 0, 2_419_200),
    PUSH_TIMEOUT_MS: envInt(10_000, 100, 120_000),
  })
  .superRefine((env, ctx) => {
    if ((env.VAPID_PUBLIC_KEY === undefined) !== (env.VAPID_PRIVATE_KEY === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.VAPID_PUBLIC_KEY === undefined ? 'VAPID_PUBLIC_KEY' : 'VAPID_PRIVATE_KEY'],
        message: 'VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY go together',
      });
    }
  });

export function loadPushConfig(env: Env): PushConfig {
  const parsed = parseEnv(pushEnvSchema, env);
  return {
    vapid:
      parsed.VAPID_PUBLIC_KEY && parsed.VAPID_PRIVATE_KEY
        ? {
            publicKey: parsed.VAPID_PUBLIC_KEY,
            privateKey: parsed.VAPID_PRIVATE_KEY,
            subject: parsed.VAPID_SUBJECT,
          }
        : undefined,
    ttlSeconds: {
      transactional: parsed.PUSH_TTL_TRANSACTIONAL_SECONDS,
      campaign: parsed.PUSH_TTL_CAMPAIGN_SECONDS,
    },
    timeoutMs: parsed.PUSH_TIMEOUT_MS,
  };
}

export interface WebhookConfig {
  /** Unset: the channel is disabled (receivers could not verify us). */
  signingSecret?: string;
  /** Allow targets on private, loopback and link-local addresses (never in production). */
  allowPrivate: boolean;
  timeoutMs: number;
}

const webhookEnvSchema = z.object({
  WEBHOOK_SIGNING_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  WEBHOOK_ALLOW_PRIVATE: envBool(false),
  WEBHOOK_TIMEOUT_MS: envInt(10_000, 100, 120_000),
});

export function loadWebhookConfig(env: Env): WebhookConfig {
  const parsed = parseEnv(webhookEnvSchema, env);
  return {
    signingSecret: parsed.WEBHOOK_SIGNING_SECRET,
    allowPrivate: parsed.WEBHOOK_ALLOW_PRIVATE,
    timeoutMs: parsed.WEBHOOK_TIMEOUT_MS,
  };
}
