import type { Logger } from './logger';

export type ReadinessCheck = () => Promise<void>;

/** Runs every check with a deadline; the result names each dependency. */
export async function readiness(
  checks: Record<string, ReadinessCheck>,
  timeoutMs = 2000,
): Promise<{ ok: boolean; checks: Record<string, string> }> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
          }),
        ]);
        return [name, 'ok'] as const;
      } catch (err) {
        return [name, (err as Error).message || 'unavailable'] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ok: entries.every(([, v]) => v === 'ok'), checks: Object.fromEntries(entries) };
}

export type ReadinessResult = Awaited<ReturnType<typeof readiness>>;

/**
 * Readiness for a probe endpoint, logged when it changes (with the checks
 * that fail), not on every probe: a kubelet asks every few seconds, and an
 * outage should read as one `not ready` line and one `ready` line.
 */
export function createReadinessProbe(
  checks: Record<string, ReadinessCheck>,
  log: Pick<Logger, 'info' | 'warn'>,
): () => Promise<ReadinessResult> {
  let wasReady: boolean | undefined;
  return async () => {
    const result = await readiness(checks);
    if (result.ok !== wasReady) {
      wasReady = result.ok;
      if (result.ok) log.info({ checks: result.checks }, 'ready');
      else log.warn({ checks: result.checks }, 'not ready');
    }
    return result;
  };
}
