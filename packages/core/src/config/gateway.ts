import { createHmac, createPublicKey, type KeyObject } from 'node:crypto';
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

export type AsymmetricAlgorithm = 'RS256' | 'ES256';

export interface JwtVerificationConfig {
  /** HS256 shared secret. */
  secret?: string;
  /**
   * The HS256 secret being rotated out (JWT_SECRET_PREVIOUS): tokens it
   * signed are still accepted, so callers can move to the new one meanwhile.
   */
  previousSecret?: string;
  /** RS256 or ES256 public key; the algorithm follows from the key type. */
  publicKey?: { key: KeyObject; algorithm: AsymmetricAlgorithm };
  issuer: string;
  audience: string;
}

export interface GatewayConfig extends CommonConfig {
  port: number;
  /** Gateway processes sharing PORT (GATEWAY_PROCESSES); more than 1 uses node:cluster. */
  processes: number;
  jwt: JwtVerificationConfig;
  /** Bull Board credentials; undefined keeps the dashboard off. */
  admin?: { user: string; password: string };
  publicUrl: string;
  retry: RetryConfig;
  /** Served at GET /v1/push/vapid-public-key for browsers to subscribe (VAPID_PUBLIC_KEY). */
  vapidPublicKey?: string;
  /** Signs and verifies unsubscribe links; derived from JWT_SECRET when unset. */
  unsubscribeSecret?: string;
  /**
   * Unsubscribe links signed before a JWT_SECRET rotation (the key derived
   * from JWT_SECRET_PREVIOUS, when no UNSUBSCRIBE_SECRET is set) still work.
   */
  previousUnsubscribeSecret?: string;
  /** Notifications one caller (token sub) may have accepted per minute; 0: no limit. */
  apiRateLimitPerMinute: number;
}

function parsePublicKey(pem: string, ctx: z.RefinementCtx): GatewayConfig['jwt']['publicKey'] {
  try {
    // Environments often carry PEMs on one line with literal "\n".
    const key = createPublicKey(pem.replace(/\\n/g, '\n'));
    if (key.asymmetricKeyType === 'rsa') return { key, algorithm: 'RS256' };
    if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
      return { key, algorithm: 'ES256' };
    }
    ctx.addIssue({ code: 'custom', message: 'must be an RSA or EC P-256 public key' });
  } catch {
    ctx.addIssue({ code: 'custom', message: 'is not a PEM public key' });
  }
  return z.NEVER;
}

const gatewayEnvSchema = commonEnvSchema
  .extend(retryEnvSchema.shape)
  .extend({
    PORT: envInt(3000, 0, 65535),
    GATEWAY_PROCESSES: envInt(1, 1, 64),
    JWT_SECRET: z.string().min(32, 'must be at least 32 characters (256 bits)').optional(),
    JWT_SECRET_PREVIOUS: z.string().min(32, 'must be at least 32 characters (256 bits)').optional(),
    JWT_PUBLIC_KEY: z.string().transform(parsePublicKey).optional(),
    JWT_ISSUER: z.string().default('herald'),
    JWT_AUDIENCE: z.string().default('herald-api'),
    ADMIN_USER: z.string().optional(),
    ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
    PUBLIC_URL: envUrl(/^https?$/).default('http://localhost:3000'),
    VAPID_PUBLIC_KEY: z
      .string()
      .regex(/^[A-Za-z0-9_-]{80,100}$/, 'a base64url P-256 public key')
      .optional(),
    UNSUBSCRIBE_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    API_RATE_LIMIT_PER_MINUTE: envInt(0, 0, 100_000_000),
  })
  .superRefine((env, ctx) => {
    if (env.JWT_SECRET === undefined && env.JWT_PUBLIC_KEY === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['JWT_SECRET'],
        message: 'set JWT_SECRET (HS256) or JWT_PUBLIC_KEY (RS256/ES256)',
      });
    }
    if (env.JWT_SECRET_PREVIOUS !== undefined && env.JWT_SECRET === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['JWT_SECRET_PREVIOUS'],
        message: 'is the secret being rotated out: set JWT_SECRET to the new one',
      });
    }
    if ((env.ADMIN_USER === undefined) !== (env.ADMIN_PASSWORD === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.ADMIN_USER === undefined ? 'ADMIN_USER' : 'ADMIN_PASSWORD'],
        message: 'ADMIN_USER and ADMIN_PASSWORD go together',
      });
    }
  });

export function loadGatewayConfig(env: Env): GatewayConfig {
  const parsed = parseEnv(gatewayEnvSchema, env);
  return {
    ...toCommonConfig(parsed),
    port: parsed.PORT,
    processes: parsed.GATEWAY_PROCESSES,
    jwt: {
      secret: parsed.JWT_SECRET,
      previousSecret: parsed.JWT_SECRET_PREVIOUS,
      publicKey: parsed.JWT_PUBLIC_KEY,
      issuer: parsed.JWT_ISSUER,
      audience: parsed.JWT_AUDIENCE,
    },
    admin:
      parsed.ADMIN_USER !== undefined && parsed.ADMIN_PASSWORD !== undefined
        ? { user: parsed.ADMIN_USER, password: parsed.ADMIN_PASSWORD }
        : undefined,
    publicUrl: parsed.PUBLIC_URL.replace(/\/$/, ''),
    retry: toRetryConfig(parsed),
    vapidPublicKey: parsed.VAPID_PUBLIC_KEY,
    unsubscribeSecret: unsubscribeSecretFrom(parsed.UNSUBSCRIBE_SECRET, parsed.JWT_SECRET),
    apiRateLimitPerMinute: parsed.API_RATE_LIMIT_PER_MINUTE,
    previousUnsubscribeSecret: parsed.UNSUBSCRIBE_SECRET
      ? undefined
      : unsubscribeSecretFrom(undefined, parsed.JWT_SECRET_PREVIOUS),
  };
}

/**
 * Unsubscribe links are signed with UNSUBSCRIBE_SECRET, or with a key derived
 * from JWT_SECRET (never JWT_SECRET itself) when only that is set.
 */
export function unsubscribeSecretFrom(
  explicit: string | undefined,
  jwtSecret: string | undefined,
): string | undefined {
  if (explicit) return explicit;
  if (!jwtSecret) return undefined;
  return createHmac('sha256', jwtSecret).update('herald unsubscribe links v1').digest('base64url');
}
