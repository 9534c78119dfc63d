import { z } from 'zod';

/** Raised when the environment does not describe a runnable service. Names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(
      `Invalid configuration: ${problems.map((p) => `${p.variable}: ${p.message}`).join('; ')}`,
    );
    this.name = 'ConfigError';
  }
}

export type Env = Record<string, string | undefined>;

/**
 * Validates the environment against a schema whose keys are variable names.
 * Empty strings count as unset, so `FOO=` falls back to the default.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, env: Env): z.infer<S> {
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const result = schema.safeParse(present);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => ({
      variable: String(issue.path[0] ?? '(environment)'),
      message: issue.message,
    })),
  );
}

export const envInt = (defaultValue: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(defaultValue);

export const envBool = (defaultValue: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .transform((v) => v === 'true' || v === '1' || v === 'yes')
    .default(defaultValue);

export const envUrl = (protocols: RegExp) => z.url({ protocol: protocols });
