import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

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
