import { Pool } from 'undici';
import { percentile } from './measure';

export interface OpenLoopOptions {
  url: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Mean arrivals per second. */
  rate: number;
  durationSeconds: number;
  /** Sockets to the server: enough that none is the bottleneck. */
  connections?: number;
}

export interface OpenLoopResult {
  requests: number;
  /** Responses per status code. */
  statuses: Record<number, number>;
  errors: number;
  /** Arrivals actually issued per second over the run. */
  achievedRate: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * Open-loop load at a steady mean rate with Poisson arrivals (what many
 * independent callers look like), the way wrk2 measures: each request has an
 * intended start time drawn in advance, and its latency runs from that time,
 * not from when it went out, so a slow server cannot slow the load down and
 * hide its own queueing (coordinated omission).
 *
 * autocannon's `overallRate` is not used for this: it lets each connection
 * send its per-second quota back to back and then idle until the next
 * second, so the server sees a burst every second rather than a rate.
 */
export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const pool = new Pool(options.url, { connections: options.connections ?? 64 });
  const total = Math.round(options.rate * options.durationSeconds);
  const intended: number[] = [];
  let t = 0;
  for (let i = 0; i < total; i++) {
    t += (-Math.log(1 - Math.random()) / options.rate) * 1000;
    intended.push(t);
  }
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let errors = 0;
  const inFlight: Promise<void>[] = [];
  const start = performance.now();

  // undici's dispatcher, not request(): no response stream per request, so
  // the load generator takes as little CPU from the server as it can.
  const fire = (due: number) =>
    new Promise<void>((resolve) => {
      let status = 0;
      const done = () => {
        latencies.push(performance.now() - start - due);
        resolve();
      };
      pool.dispatch(
        { path: options.path, method: 'POST', headers: options.headers, body: options.body },
        {
          onRequestStart() {},
          onResponseStart(_controller, statusCode) {
            status = statusCode;
          },
          onResponseData() {},
          onResponseEnd() {
            statuses[status] = (statuses[status] ?? 0) + 1;
            done();
          },
          onResponseError() {
            errors++;
            done();
          },
        },
      );
    });

  let next = 0;
  while (next < total) {
    const now = performance.now() - start;
    while (next < total && intended[next]! <= now) inFlight.push(fire(intended[next++]!));
    if (next < total) {
      // Timers tick in whole milliseconds: arrivals that came due meanwhile go
      // out together at the next tick, their latency still counted from when
      // they were due. (Spinning instead would take a core from the server.)
      const wait = intended[next]! - (performance.now() - start);
      await new Promise((r) => setTimeout(r, Math.max(1, Math.floor(wait))));
    }
  }
  const issuedSeconds = (performance.now() - start) / 1000;
  await Promise.all(inFlight);
  await pool.close();
  latencies.sort((a, b) => a - b);
  return {
    requests: total,
    statuses,
    errors,
    achievedRate: total / issuedSeconds,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1] ?? NaN,
  };
}
