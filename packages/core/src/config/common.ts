import { z } from 'zod';
import { DEFAULT_QUEUE_PREFIX } from '../topology';
import { envInt, envUrl } from './env';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Variables every service reads. */
export const commonEnvSchema = z.object({
  REDIS_URL: envUrl(/^rediss?$/).default('redis://127.0.0.1:6379'),
  DATABASE_URL: envUrl(/^postgres(ql)?$/).default('postgresql://postgres@127.0.0.1:5432/herald'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[^:\s]+$/, 'must not contain ":" or spaces')
    .default(DEFAULT_QUEUE_PREFIX),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
});

/** Retry policy: read by producers (attempts travel in job options) and workers (backoff). */
export const retryEnvSchema = z.object({
  RETRY_BASE_MS: envInt(1000, 1),
  RETRY_MAX_MS: envInt(600_000, 1),
  ATTEMPTS_TRANSACTIONAL: envInt(5, 1, 100),
  ATTEMPTS_CAMPAIGN: envInt(3, 1, 100),
});

export interface CommonConfig {
  redisUrl: string;
  databaseUrl: string;
  queuePrefix: string;
  logLevel: (typeof LOG_LEVELS)[number];
}

export interface RetryConfig {
  baseMs: number;
  maxMs: number;
  attempts: { transactional: number; campaign: number };
}

export function toCommonConfig(env: z.infer<typeof commonEnvSchema>): CommonConfig {
  return {
    redisUrl: env.REDIS_URL,
    databaseUrl: env.DATABASE_URL,
    queuePrefix: env.QUEUE_PREFIX,
    logLevel: env.LOG_LEVEL,
  };
}

export function toRetryConfig(env: z.infer<typeof retryEnvSchema>): RetryConfig {
  return {
    baseMs: env.RETRY_BASE_MS,
    maxMs: env.RETRY_MAX_MS,
    attempts: { transactional: env.ATTEMPTS_TRANSACTIONAL, campaign: env.ATTEMPTS_CAMPAIGN },
  };
}

/** Circuit breaker settings shared by every channel worker. */
export const breakerEnvSchema = z.object({
  BREAKER_ERROR_PERCENT: envInt(50, 1, 100),
  BREAKER_VOLUME: envInt(20, 1),
  BREAKER_WINDOW_MS: envInt(10_000, 100),
  BREAKER_RESET_MS: envInt(30_000, 100),
});

export interface BreakerConfig {
  /** Opens when at least this share of calls failed (transiently)… */
  errorPercent: number;
  /** …out of at least this many calls… */
  volume: number;
  /** …within this rolling window. */
  windowMs: number;
  /** Then stays open this long before one trial call (half-open). */
  resetMs: number;
}

export function toBreakerConfig(env: z.infer<typeof breakerEnvSchema>): BreakerConfig {
  return {
    errorPercent: env.BREAKER_ERROR_PERCENT,
    volume: env.BREAKER_VOLUME,
    windowMs: env.BREAKER_WINDOW_MS,
    resetMs: env.BREAKER_RESET_MS,
  };
}
