import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ServiceSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface SupervisorOptions {
  /** Exit code meaning "do not restart me" (invalid configuration). */
  noRestartExitCode?: number;
  stopTimeoutMs?: number;
  write?: (line: string) => void;
}

const COLORS = [36, 35, 33, 32, 34, 31, 96, 95];

/**
 * Runs each service as a child process with its output prefixed by its name,
 * restarts one that crashes (exponential backoff, reset after a minute of
 * health), and on stop sends SIGTERM to all and waits (bounded) for them.
 */
export class Supervisor {
  private readonly children = new Map<string, ChildProcess>();
  private stopping = false;
  private readonly write: (line: string) => void;
  private readonly width: number;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly services: ServiceSpec[],
    private readonly options: SupervisorOptions = {},
  ) {
    this.write = options.write ?? ((line) => process.stdout.write(`${line}\n`));
    this.width = Math.max(...services.map((s) => s.name.length));
  }

  start(): void {
    this.services.forEach((spec, i) => this.launch(spec, COLORS[i % COLORS.length]!, 0));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    const exits = [...this.children.values()].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
          const killer = setTimeout(
            () => child.kill('SIGKILL'),
            this.options.stopTimeoutMs ?? 30_000,
          );
          child.once('exit', () => clearTimeout(killer));
        }),
    );
    await Promise.all(exits);
  }

  private prefix(name: string, color: number): string {
    const label = name.padEnd(this.width);
    return process.stdout.isTTY ? `\x1b[${color}m${label} |\x1b[0m` : `${label} |`;
  }

  private launch(spec: ServiceSpec, color: number, restarts: number): void {
    const prefix = this.prefix(spec.name, color);
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.set(spec.name, child);
    const startedAt = Date.now();
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => this.write(`${prefix} ${line}`));
    }
    child.on('error', (err) => this.write(`${prefix} could not start: ${err.message}`));
    child.on('exit', (code, signal) => {
      if (this.stopping) return;
      if (code === this.options.noRestartExitCode) {
        this.write(`${prefix} exited with invalid configuration; not restarting`);
        return;
      }
      const healthy = Date.now() - startedAt > 60_000;
      const attempt = healthy ? 0 : restarts + 1;
      const delay = Math.min(30_000, 500 * 2 ** attempt);
      this.write(`${prefix} exited (${signal ?? `code ${code}`}); restarting in ${delay} ms`);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!this.stopping) this.launch(spec, color, attempt);
      }, delay);
      this.timers.add(timer);
    });
  }
}
