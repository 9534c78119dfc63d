import { Router } from 'express';
import {
  createReadinessProbe,
  metricsSource,
  type Logger,
  type ReadinessCheck,
} from '@herald/core';
import type { Registry } from 'prom-client';
import { ProblemError, sendProblem } from '../problem';

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
  // Every gateway process's metrics together when GATEWAY_PROCESSES > 1.
  const metrics = metricsSource(deps.registry);
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
    try {
      res.type(deps.registry.contentType).send(await metrics());
    } catch (err) {
      // Only when another process is to answer (GATEWAY_PROCESSES > 1) and does not.
      deps.log.warn({ err }, 'metrics unavailable');
      sendProblem(res, new ProblemError(503, 'Metrics unavailable', (err as Error).message));
    }
  });
  return router;
}
