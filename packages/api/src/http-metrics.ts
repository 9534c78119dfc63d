import type { Request, Response } from 'express';
import { Counter, Histogram, type Registry } from 'prom-client';

/** The route label of requests no route matched: one series for every unknown path. */
export const UNMATCHED_ROUTE = 'unmatched';

type RequestCounter = Counter.Internal;
type DurationHistogram = Histogram.Internal<'route' | 'method'>;

/** A route and method's label children, resolved once. */
interface RouteSeries {
  duration: DurationHistogram;
  byStatus: Map<number, RequestCounter>;
}

/** The matched route's pattern (`/v1/notifications/:id`), never the path itself. */
function routeOf(req: Request): string {
  const path: unknown = req.route?.path;
  return typeof path === 'string' ? req.baseUrl + path : UNMATCHED_ROUTE;
}

/** Records one answered request: its route, method, status and how long it took. */
export type HttpRequestRecorder = (res: Response, seconds: number) => void;

/**
 * herald_http_requests_total and herald_http_request_duration_seconds: what
 * the gateway answered, by route pattern, method and status, and how long it
 * took. Called from the access log's one 'finish' listener (a second listener
 * per response cost the gateway a tenth of its single-send capacity); label
 * children are cached per route, method and status.
 */
export function createHttpMetrics(registry: Registry): HttpRequestRecorder {
  const requests = new Counter({
    name: 'herald_http_requests_total',
    help: 'HTTP requests the gateway answered, by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'herald_http_request_duration_seconds',
    help: 'Time from a request arriving to its response being sent, by route pattern and method.',
    labelNames: ['route', 'method'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  const series = new Map<string, Map<string, RouteSeries>>();

  function seriesOf(route: string, method: string): RouteSeries {
    let byMethod = series.get(route);
    if (!byMethod) series.set(route, (byMethod = new Map()));
    let found = byMethod.get(method);
    if (!found) {
      found = { duration: duration.labels(route, method), byStatus: new Map() };
      byMethod.set(method, found);
    }
    return found;
  }

  return (res, seconds) => {
    const { method } = res.req;
    const route = routeOf(res.req);
    const s = seriesOf(route, method);
    const status = res.statusCode;
    let counter = s.byStatus.get(status);
    if (!counter) {
      counter = requests.labels(route, method, String(status));
      s.byStatus.set(status, counter);
    }
    counter.inc();
    s.duration.observe(seconds);
  };
}
