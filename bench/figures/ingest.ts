import autocannon from 'autocannon';
import {
  benchToken,
  GATEWAY_PROCESSES,
  n,
  resetState,
  SCALE,
  startGateway,
  startSink,
  type BenchContext,
} from '../lib/context';
import { runOpenLoop } from '../lib/open-loop';
import { cpuShare, cpuSnapshot } from '../lib/cpu';

const GATEWAY_PORT = 3991;

function token(): string {
  return benchToken(['notifications:write']);
}

const item = (i: number) => ({
  to: { webhookUrl: `https://hooks.example.test/r/${i}` },
  channels: ['webhook'],
  content: { webhook: { payload: { order: i, status: 'shipped' } } },
  metadata: { orderId: `A-${i}` },
});

/** POST /v1/notifications/batch: 1,000 notifications a request, a few requests in flight. */
export async function ingestFigures(ctx: BenchContext): Promise<void> {
  await resetState(ctx);
  const gateway = await startGateway(ctx, GATEWAY_PORT);
  const auth = `Bearer ${token()}`;
  const requests = Math.max(4, Math.round(n(60_000) / 1000));
  const inFlight = 4;
  const bodies = Array.from({ length: requests }, (_, r) =>
    JSON.stringify({ items: Array.from({ length: 1000 }, (_, i) => item(r * 1000 + i)) }),
  );
  // Warm-up (JIT, pools), not measured.
  await post(bodies[0]!, auth);
  await resetState(ctx);
  const pids = { gateway: gateway.process.pid };
  const before = cpuSnapshot(pids);
  const started = performance.now();
  let next = 0;
  let accepted = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < requests) {
        const body = bodies[next++]!;
        // Awaited first: `accepted += await …` would add to the value read before the await.
        const answer = await post(body, auth);
        accepted += answer.accepted;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuShare(before, cpuSnapshot(pids), seconds);
  const perSecond = accepted / seconds;
  ctx.report({
    figure: 'batch ingest notifications/s (POST /v1/notifications/batch)',
    value: perSecond,
    unit: 'notifications/s',
    target: '>= 10,000/s',
    pass: perSecond >= 10_000 && accepted === requests * 1000,
    detail: {
      requests,
      itemsPerRequest: 1000,
      inFlight,
      seconds,
      accepted,
      gatewayProcesses: GATEWAY_PROCESSES,
      cpu,
    },
  });

  // Single sends at a steady 1,000 requests/s (open loop, Poisson arrivals).
  const singleLoad = (durationSeconds: number, url = `http://127.0.0.1:${GATEWAY_PORT}`) =>
    runOpenLoop({
      url,
      path: '/v1/notifications',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify(item(1)),
      rate: 1000,
      durationSeconds,
    });
  // Warm-up, not measured: the single-send path's code compiled, its pools
  // filled, the emptied tables growing again; then straight on to the measure.
  await resetState(ctx);
  await singleLoad(3);
  const singleBefore = cpuSnapshot(pids);
  const single = await singleLoad(Math.max(5, Math.round(15 * Math.min(1, SCALE))));
  const singleCpu = cpuShare(
    singleBefore,
    cpuSnapshot(pids),
    single.requests / single.achievedRate,
  );
  const capacity = await measureCapacity(ctx, auth, pids);
  await gateway.stop();
  // The same with a second gateway process (GATEWAY_PROCESSES=2), which may use
  // the other core: on a machine with cores to spare, what it adds.
  const twoProcesses = await startGateway(ctx, GATEWAY_PORT, 2);
  // Warm-up, not measured: a fresh gateway's processes take several seconds to compile their hot paths.
  await measureCapacity(ctx, auth, { gateway: twoProcesses.process.pid });
  const capacityTwo = await measureCapacity(ctx, auth, { gateway: twoProcesses.process.pid });
  await twoProcesses.stop();
  // The reference: the same load on express alone (JSON in, 202 JSON out, nothing else).
  const floor = await startSink('bench/express-floor.ts');
  const floorUrl = `http://127.0.0.1:${floor.port}`;
  await singleLoad(3, floorUrl);
  const floorBefore = cpuSnapshot({ express: floor.child.process.pid });
  const bare = await singleLoad(Math.max(5, Math.round(15 * Math.min(1, SCALE))), floorUrl);
  const bareCpu = cpuShare(
    floorBefore,
    cpuSnapshot({ express: floor.child.process.pid }),
    bare.requests / bare.achievedRate,
  );
  await floor.child.stop();
  const ok = single.statuses[202] ?? 0;
  ctx.report({
    figure: 'single POST /v1/notifications p99 at 1,000 req/s',
    value: single.p99,
    unit: 'ms',
    target: '<= 25 ms',
    pass: single.p99 <= 25 && ok === single.requests && single.achievedRate >= 950,
    detail: { ...single, gatewayProcesses: GATEWAY_PROCESSES, cpu: singleCpu },
  });
  ctx.report({
    figure: 'reference: express alone (JSON in, 202 out), p99 at 1,000 req/s',
    value: bare.p99,
    unit: 'ms',
    target: 'reference',
    pass: (bare.statuses[202] ?? 0) === bare.requests,
    detail: { ...bare, cpu: bareCpu },
  });
  reportCapacity(ctx, capacity, GATEWAY_PROCESSES);
  reportCapacity(ctx, capacityTwo, 2);
}

interface Capacity {
  result: autocannon.Result;
  cpu: Record<string, string>;
}

/** Capacity: as many single sends as 32 callers waiting on their answers get through. */
async function measureCapacity(
  ctx: BenchContext,
  auth: string,
  pids: Record<string, number | undefined>,
  seconds = Math.max(3, Math.round(8 * Math.min(1, SCALE))),
): Promise<Capacity> {
  await resetState(ctx);
  const before = cpuSnapshot(pids);
  const result = await autocannon({
    url: `http://127.0.0.1:${GATEWAY_PORT}/v1/notifications`,
    method: 'POST',
    connections: 32,
    duration: seconds,
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: JSON.stringify(item(1)),
  });
  return { result, cpu: cpuShare(before, cpuSnapshot(pids), result.duration) };
}

function reportCapacity(ctx: BenchContext, { result, cpu }: Capacity, processes: number): void {
  ctx.report({
    figure: `reference: single POST /v1/notifications capacity, 32 callers (autocannon), ${processes} gateway process${processes === 1 ? '' : 'es'}`,
    value: result.requests.average,
    unit: 'req/s',
    target: 'reference',
    pass: result.non2xx === 0 && result.errors === 0,
    detail: {
      p50: result.latency.p50,
      p99: result.latency.p99,
      non2xx: result.non2xx,
      errors: result.errors,
      gatewayProcesses: processes,
      cpu,
    },
  });
}

async function post(body: string, auth: string): Promise<{ accepted: number }> {
  const res = await fetch(`http://127.0.0.1:${GATEWAY_PORT}/v1/notifications/batch`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/json' },
    body,
  });
  if (res.status !== 202) throw new Error(`batch answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { accepted: number };
}
