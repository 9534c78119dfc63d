import type { Queue } from 'bullmq';

export interface DrainMeasurement {
  jobs: number;
  seconds: number;
  perSecond: number;
}

/**
 * The same clock for every figure: poll the queue until its backlog starts
 * shrinking (t0) and until it is empty (t1). Jobs complete only after their
 * work (and, for Herald, their Postgres status write) is done.
 */
export async function measureDrain(
  queues: Queue[],
  jobs: number,
  timeoutMs = 300_000,
): Promise<DrainMeasurement> {
  const remaining = async () => {
    const counts = await Promise.all(
      queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'prioritized')),
    );
    return counts.reduce(
      (sum, c) =>
        sum + (c.waiting ?? 0) + (c.active ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0),
      0,
    );
  };
  const deadline = Date.now() + timeoutMs;
  let t0 = 0;
  for (;;) {
    const left = await remaining();
    const now = performance.now();
    if (!t0 && left < jobs) t0 = now;
    if (left === 0) {
      const seconds = (now - t0) / 1000;
      return { jobs, seconds, perSecond: jobs / seconds };
    }
    if (Date.now() > deadline) throw new Error(`queue did not drain: ${left} of ${jobs} left`);
    await new Promise((r) => setTimeout(r, t0 ? 20 : 5));
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
