import { z } from 'zod';
import {
  commonEnvSchema,
  retryEnvSchema,
  toCommonConfig,
  toRetryConfig,
  type CommonConfig,
  type RetryConfig,
} from './common';
import { envInt, envUrl, parseEnv, type Env } from './env';
import { unsubscribeSecretFrom } from './gateway';
import { DEFAULT_METRICS_PORT } from './worker';

export interface SchedulerConfig extends CommonConfig {
  metricsPort: number;
  retry: RetryConfig;
  publicUrl: string;
  /** Signs campaign emails' unsubscribe links (UNSUBSCRIBE_SECRET, or derived from JWT_SECRET). */
  unsubscribeSecret?: string;
  tickMs: number;
  /** Campaign-lane jobs allowed to wait per channel before the fan-out holds back. */
  campaignWindowJobs: number;
  campaignPageSize: number;
  /** Days settled notifications are kept (RETENTION_DAYS); 0 keeps them all. */
  retentionDays: number;
}

const schedulerEnvSchema = commonEnvSchema.extend(retryEnvSchema.shape).extend({
  METRICS_PORT: envInt(DEFAULT_METRICS_PORT.scheduler, 0, 65535),
  PUBLIC_URL: envUrl(/^https?$/).default('http://localhost:3000'),
  UNSUBSCRIBE_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  JWT_SECRET: z.string().optional(),
  SCHEDULER_TICK_MS: envInt(250, 10, 60_000),
  CAMPAIGN_WINDOW_JOBS: envInt(400, 1, 1_000_000),
  CAMPAIGN_PAGE_SIZE: envInt(1000, 10, 10_000),
  RETENTION_DAYS: envInt(0, 0, 36_500),
});

export function loadSchedulerConfig(env: Env): SchedulerConfig {
  const parsed = parseEnv(schedulerEnvSchema, env);
  return {
    ...toCommonConfig(parsed),
    metricsPort: parsed.METRICS_PORT,
    retry: toRetryConfig(parsed),
    publicUrl: parsed.PUBLIC_URL.replace(/\/$/, ''),
    unsubscribeSecret: unsubscribeSecretFrom(parsed.UNSUBSCRIBE_SECRET, parsed.JWT_SECRET),
    tickMs: parsed.SCHEDULER_TICK_MS,
    campaignWindowJobs: parsed.CAMPAIGN_WINDOW_JOBS,
    campaignPageSize: parsed.CAMPAIGN_PAGE_SIZE,
    retentionDays: parsed.RETENTION_DAYS,
  };
}
