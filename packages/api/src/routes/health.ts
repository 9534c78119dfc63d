import { Router } from 'express';
import { readiness, type ReadinessCheck } from '@herald/core';
import type { Registry } from 'prom-client';

export function healthRoutes(deps: {
  registry: Registry;
  checks: Record<string, ReadinessCheck>;
}): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const result = await readiness(deps.checks);
    res
      .status(result.ok ? 200 : 503)
      .json({ status: result.ok ? 'ok' : 'unavailable', checks: result.checks });
  });
  router.get('/metrics', async (_req, res) => {
    res.type(deps.registry.contentType).send(await deps.registry.metrics());
  });
  return router;
}
