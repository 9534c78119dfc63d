import { Router } from 'express';
import { createReadinessProbe, type Logger, type ReadinessCheck } from '@herald/core';
import type { Registry } from 'prom-client';

/**
 * Liveness, readiness and metrics. Readiness is logged when it changes (with
 * the checks that fail), not on every probe: a kubelet asks every few seconds.
 */
export function healthRoutes(deps: {
  registry: Registry;
  checks: Record<string, ReadinessCheck>;
  log: Logger;
}): Router {
  const router = Router();
  const probeReadiness = createReadinessProbe(deps.checks, deps.log);
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const result = await probeReadiness();
    res
      .status(result.ok ? 200 : 503)
      .json({ status: result.ok ? 'ok' : 'unavailable', checks: result.checks });
  });
  router.get('/metrics', async (_req, res) => {
    res.type(deps.registry.contentType).send(await deps.registry.metrics());
  });
  return router;
}
