import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger';
import { createReadinessProbe, type ReadinessCheck } from './readiness';

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * /healthz (process up), /readyz (every dependency answers) and /metrics for
 * services that have no HTTP API of their own.
 */
export async function startOpsServer(options: {
  port: number;
  registry: Registry;
  checks: Record<string, ReadinessCheck>;
  /** Where readiness changes are logged (`not ready` with the failing checks, then `ready`). */
  log: Pick<Logger, 'info' | 'warn'>;
  host?: string;
}): Promise<OpsServer> {
  const probeReadiness = createReadinessProbe(options.checks, options.log);
  const server = http.createServer((req, res) => {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(405, 'text/plain', 'method not allowed\n');
    if (path === '/healthz') return send(200, 'application/json', '{"status":"ok"}\n');
    if (path === '/readyz') {
      void probeReadiness().then(({ ok, checks }) =>
        send(
          ok ? 200 : 503,
          'application/json',
          `${JSON.stringify({ status: ok ? 'ok' : 'unavailable', checks })}\n`,
        ),
      );
      return;
    }
    if (path === '/metrics') {
      void options.registry.metrics().then(
        (text) => send(200, options.registry.contentType, text),
        (err: Error) => send(500, 'text/plain', `${err.message}\n`),
      );
      return;
    }
    send(404, 'text/plain', 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
