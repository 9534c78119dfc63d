import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawnService, waitFor } from '@herald/testkit';

const ROOT = path.resolve(__dirname, '..');
const TSX = pathToFileURL(require.resolve('tsx')).href;

/** Runs a service's main.ts as `pnpm start` does, with exactly the given environment. */
function runService(
  name: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', TSX, path.join(ROOT, 'services', name, 'src', 'main.ts')],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('invalid configuration stops a service at start, naming the variable', () => {
  it('gateway without JWT_SECRET or JWT_PUBLIC_KEY', async () => {
    const { code, stderr } = await runService('gateway', {});
    expect(code).toBe(78);
    expect(stderr).toMatch(/JWT_SECRET/);
  });

  it('gateway with a bad PORT and REDIS_URL (both named)', async () => {
    const { code, stderr } = await runService('gateway', {
      JWT_SECRET: 'a'.repeat(40),
      PORT: 'http',
      REDIS_URL: 'localhost',
    });
    expect(code).toBe(78);
    expect(stderr).toMatch(/PORT/);
    expect(stderr).toMatch(/REDIS_URL/);
  });

  it('worker-email with a non-numeric EMAIL_CONCURRENCY', async () => {
    const { code, stderr } = await runService('worker-email', { EMAIL_CONCURRENCY: 'many' });
    expect(code).toBe(78);
    expect(stderr).toMatch(/EMAIL_CONCURRENCY/);
  });

  it('worker-email with an SMTP_URL that is not smtp(s)://', async () => {
    const { code, stderr } = await runService('worker-email', { SMTP_URL: 'http://mail.example' });
    expect(code).toBe(78);
    expect(stderr).toMatch(/SMTP_URL/);
  });
});

describe('a channel without credentials is reported disabled at start', () => {
  it('worker-telegram without TELEGRAM_BOT_TOKEN logs that it is disabled, answers /healthz and keeps running until SIGTERM', async () => {
    const service = spawnService('worker-telegram', { METRICS_PORT: '0' });
    try {
      const line = await waitFor(
        () =>
          service
            .output()
            .split('\n')
            .find((l) => l.includes('channel disabled')),
        { what: 'the disabled line', timeoutMs: 20_000 },
      );
      const log = JSON.parse(line) as { msg: string; channel: string; metricsPort: number };
      expect(log).toMatchObject({
        channel: 'telegram',
        msg: 'telegram channel disabled: TELEGRAM_BOT_TOKEN is not set',
      });
      const health = await fetch(`http://127.0.0.1:${log.metricsPort}/healthz`);
      expect(health.status).toBe(200);
      expect(service.child.exitCode).toBeNull();
    } finally {
      service.kill('SIGTERM');
    }
    expect(await service.exited).toEqual({ code: 0, signal: null });
  });
});
