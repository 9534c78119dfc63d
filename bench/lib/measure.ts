import type { Queue } from 'bullmq';

export interface DrainMeasurement {
  jobs: number;
  seconds: number;
  perSecond: number;
}

/**
 * The same clock for every figure: poll the queues from before the worker
 * takes its first job (t0: the first moment fewer jobs wait than at the
 * start, so a worker's start-up time is not counted) until nothing waits or
 * runs (t1). `jobs` is the work the backlog held: jobs, or deliveries when a
 * job carries several. Jobs complete only after their work (and, for Herald,
 * their Postgres status write) is done. `onStart` runs at t0 (where a figure
 * starts counting CPU time, so a worker's start-up is not counted there either).
 */
export async function measureDrain(
  queues: Queue[],
  jobs: number,
  { timeoutMs = 300_000, onStart }: { timeoutMs?: number; onStart?: () => void } = {},
): Promise<DrainMeasurement> {
  const counts = async () => {
    const all = await Promise.all(
      queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'prioritized')),
    );
    let waiting = 0;
    let active = 0;
    for (const c of all) {
      waiting += (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0);
      active += c.active ?? 0;
    }
    return { waiting, left: waiting + active };
  };
  const deadline = Date.now() + timeoutMs;
  const initial = (await counts()).waiting;
  let t0 = 0;
  for (;;) {
    const { waiting, left } = await counts();
    const now = performance.now();
    if (!t0 && waiting < initial) {
      t0 = now;
      onStart?.();
    }
    if (t0 && left === 0) {
      const seconds = (now - t0) / 1000;
      return { jobs, seconds, perSecond: jobs / seconds };
    }
    if (Date.now() > deadline) throw new Error(`queue did not drain: ${left} of ${jobs} left`);
    await new Promise((r) => setTimeout(r, t0 ? 20 : 2));
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
