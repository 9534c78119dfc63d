import { z } from 'zod';
import { commonEnvSchema } from './common';
import { parseEnv, type Env } from './env';

/**
 * The `herald` CLI's settings, one loader per command so each names only the
 * variables it reads: a bad JWT_SECRET does not stop `migrate`, a bad
 * DATABASE_URL does not stop `token`.
 */

export interface MigrateConfig {
  databaseUrl: string;
}

const migrateEnvSchema = commonEnvSchema.pick({ DATABASE_URL: true });

/** `herald migrate` (and the first step of `herald start`). */
export function loadMigrateConfig(env: Env): MigrateConfig {
  return { databaseUrl: parseEnv(migrateEnvSchema, env).DATABASE_URL };
}

export interface StartConfig extends MigrateConfig {
  /** JWT_SECRET or JWT_PUBLIC_KEY is set (the gateway validates it); else a local .env is made. */
  jwtKeyConfigured: boolean;
}

const startEnvSchema = migrateEnvSchema.extend({
  JWT_SECRET: z.string().optional(),
  JWT_PUBLIC_KEY: z.string().optional(),
});

/** `herald start`: migrate, then run the services (each validates its own variables). */
export function loadStartConfig(env: Env): StartConfig {
  const parsed = parseEnv(startEnvSchema, env);
  return {
    databaseUrl: parsed.DATABASE_URL,
    jwtKeyConfigured: parsed.JWT_SECRET !== undefined || parsed.JWT_PUBLIC_KEY !== undefined,
  };
}

export interface TokenConfig {
  /** HS256 key; the CLI can also sign with a private key given by --key. */
  secret?: string;
  issuer: string;
  audience: string;
}

const tokenEnvSchema = z.object({
  // As the gateway wants it: a token signed with a shorter key would be refused there.
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters (256 bits)').optional(),
  JWT_ISSUER: z.string().default('herald'),
  JWT_AUDIENCE: z.string().default('herald-api'),
});

/** `herald token`: what the gateway will check (iss, aud) and the HS256 key. */
export function loadTokenConfig(env: Env): TokenConfig {
  const parsed = parseEnv(tokenEnvSchema, env);
  return { secret: parsed.JWT_SECRET, issuer: parsed.JWT_ISSUER, audience: parsed.JWT_AUDIENCE };
}
