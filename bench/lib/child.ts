import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SERVICE_NODE_FLAGS } from '@herald/cli';

export const ROOT = path.resolve(__dirname, '..', '..');
const TSX = pathToFileURL(require.resolve('tsx')).href;

// A bench stopped with Ctrl-C or SIGTERM takes its services and sinks with it,
// so a stray worker never skews the next run.
const running = new Set<ChildProcess>();
process.once('exit', () => running.forEach((c) => c.kill('SIGKILL')));
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    running.forEach((c) => c.kill('SIGKILL'));
    process.exit(130);
  });

export interface Child {
  process: ChildProcess;
  /** Messages the child sent over IPC. */
  on(type: string, listener: (message: Record<string, unknown>) => void): void;
  next(type: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  send(message: object): void;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs a TypeScript file (bench script or service main) in its own process, with IPC. */
export function runChild(
  file: string,
  env: Record<string, string>,
  name = path.basename(file),
): Child {
  const profile =
    process.env.BENCH_PROFILE && name === process.env.BENCH_PROFILE
      ? ['--cpu-prof', '--cpu-prof-dir=/tmp/herald-prof']
      : [];
  // Services run with the node flags they get everywhere else (pnpm start, the image).
  const flags = file.startsWith('services/') ? SERVICE_NODE_FLAGS : [];
  const child = spawn(
    process.execPath,
    [...flags, ...profile, '--import', TSX, path.resolve(ROOT, file)],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    },
  );
  running.add(child);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (process.env.BENCH_VERBOSE) process.stderr.write(`[${name}] ${c}`);
  });
  const listeners = new Map<string, ((m: Record<string, unknown>) => void)[]>();
  child.on('message', (m: Record<string, unknown>) => {
    for (const l of listeners.get(String(m.type)) ?? []) l(m);
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running.delete(child);
      resolve();
    }),
  );
  child.once('exit', (code, signal) => {
    if (code && code !== 0)
      process.stderr.write(`[${name}] exited with ${code ?? signal}\n${stderr.slice(-2000)}\n`);
  });
  const on = (type: string, listener: (m: Record<string, unknown>) => void) => {
    listeners.set(type, [...(listeners.get(type) ?? []), listener]);
  };
  return {
    process: child,
    on,
    next: (type, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`${name}: no "${type}" within ${timeoutMs} ms\n${stderr.slice(-2000)}`),
            ),
          timeoutMs,
        );
        on(type, (m) => {
          clearTimeout(timer);
          resolve(m);
        });
      }),
    send: (message) => child.send(message),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
