import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

/**
 * CPU seconds of a process; with `reaped`, also those of its children that
 * have exited (Postgres backends come and go: the postmaster reaps them, and
 * their time moves into its cutime and cstime, so the sum never goes back).
 */
function cpuSecondsOf(pid: number, reaped = false): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const own = Number(fields[11]) + Number(fields[12]);
    return (reaped ? own + Number(fields[13]) + Number(fields[14]) : own) / TICKS;
  } catch {
    return 0;
  }
}

/** A process with its children (a clustered gateway's processes), reaped ones included. */
function cpuSecondsOfTree(pid: number): number {
  return pgrep(['-P', String(pid)]).reduce((s, p) => s + cpuSecondsOf(p), cpuSecondsOf(pid, true));
}

function pidsOf(name: string): number[] {
  return pgrep(['-x', name]);
}

function pgrep(args: string[]): number[] {
  try {
    return execFileSync('pgrep', args, { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * CPU seconds the hypervisor gave to other guests while ours wanted to run
 * (steal, summed over the cores). On a shared host it comes in bursts: a
 * vCPU descheduled for 50 to 150 ms stalls every request in flight, and two
 * such bursts in a 15 s run decide its p99.
 */
function stealSeconds(): number {
  try {
    const total = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    return Number(total[8] ?? 0) / TICKS;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds used by each party of a figure (Redis, Postgres, our
 * processes), so a result can say where the machine's two cores went, and
 * what the host took from them (steal).
 */
export function cpuSnapshot(children: Record<string, number | undefined>): Record<string, number> {
  const snapshot: Record<string, number> = {
    redis: pidsOf('redis-server').reduce((s, p) => s + cpuSecondsOf(p), 0),
    postgres: pidsOf('postgres').reduce((s, p) => s + cpuSecondsOf(p, true), 0),
    bench: cpuSecondsOf(process.pid),
    steal: stealSeconds(),
  };
  for (const [name, pid] of Object.entries(children))
    if (pid) snapshot[name] = cpuSecondsOfTree(pid);
  return snapshot;
}

/** Share of one core each party used between two snapshots over `seconds`. */
export function cpuShare(
  before: Record<string, number>,
  after: Record<string, number>,
  seconds: number,
): Record<string, string> {
  return Object.fromEntries(
    Object.keys(after).map((k) => {
      const share = (((after[k] ?? 0) - (before[k] ?? 0)) / seconds) * 100;
      // Steal of a few tenths of a percent already means stalls of tens of ms.
      return [k, `${k === 'steal' ? share.toFixed(1) : Math.round(share)} %`];
    }),
  );
}
