import jwt from 'jsonwebtoken';
import pg from 'pg';
import { ADMIN_URL, dropDatabase, runCli, testRunId } from '@herald/testkit';

const SECRET = 'cli-test-secret-cli-test-secret-0123456789';

// Each case starts a real Node process with tsx: slow on a loaded 2-core machine.
jest.setTimeout(60_000);

describe('herald token', () => {
  it('prints a JWT signed with JWT_SECRET carrying sub, scope, exp, iss and aud', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { code, stdout, stderr } = await runCli(
      ['token', '--sub', 'x', '--scope', 'notifications:write', '--ttl', '1h'],
      { JWT_SECRET: SECRET },
    );
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const token = stdout.trim();
    const claims = jwt.verify(token, SECRET, {
      algorithms: ['HS256'],
      issuer: 'herald',
      audience: 'herald-api',
    }) as jwt.JwtPayload;
    expect(claims).toMatchObject({
      sub: 'x',
      scope: 'notifications:write',
      iss: 'herald',
      aud: 'herald-api',
    });
    expect(claims.exp).toBeGreaterThanOrEqual(before + 3600);
    expect(claims.exp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 3600);
    expect(() => jwt.verify(token, `${SECRET}-other`, { algorithms: ['HS256'] })).toThrow();
  });

  it('takes iss and aud from JWT_ISSUER and JWT_AUDIENCE', async () => {
    const { code, stdout } = await runCli(['token', '--sub', 'ops', '--scope', 'admin'], {
      JWT_SECRET: SECRET,
      JWT_ISSUER: 'acme',
      JWT_AUDIENCE: 'acme-herald',
    });
    expect(code).toBe(0);
    expect(jwt.verify(stdout.trim(), SECRET, { algorithms: ['HS256'] })).toMatchObject({
      iss: 'acme',
      aud: 'acme-herald',
      scope: 'admin',
    });
  });

  it('refuses a JWT_SECRET the gateway would refuse, naming it, and prints no token', async () => {
    const { code, stdout, stderr } = await runCli(
      ['token', '--sub', 'x', '--scope', 'notifications:write'],
      { JWT_SECRET: 'short' },
    );
    expect(code).toBe(78);
    expect(stderr).toMatch(/JWT_SECRET/);
    expect(stdout).toBe('');
  });
});

describe('herald migrate', () => {
  it('exits non-zero naming DATABASE_URL when it is not a URL (no crash, no stack trace)', async () => {
    const { code, stderr } = await runCli(['migrate'], { DATABASE_URL: 'not-a-url' });
    expect(code).toBe(78);
    expect(stderr).toMatch(/^herald: Invalid configuration: DATABASE_URL: /);
    expect(stderr).not.toMatch(/unhandled|TypeError|\n\s+at /i);
  });

  it('refuses a URL that is not postgres://, naming DATABASE_URL', async () => {
    const { code, stderr } = await runCli(['migrate'], {
      DATABASE_URL: 'mysql://127.0.0.1/herald',
    });
    expect(code).toBe(78);
    expect(stderr).toMatch(/DATABASE_URL/);
  });

  it('says which server it could not reach, without the password, and exits 1', async () => {
    const { code, stderr } = await runCli(['migrate'], {
      DATABASE_URL: 'postgresql://herald:s3cret@127.0.0.1:1/herald',
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/cannot migrate 127\.0\.0\.1:1\/herald/);
    expect(stderr).not.toContain('s3cret');
  });

  it('creates the database and applies every migration', async () => {
    const name = `herald_t_${testRunId()}_cli_${process.pid}`;
    const url = new URL(ADMIN_URL);
    url.pathname = `/${name}`;
    try {
      const { code, stderr } = await runCli(['migrate'], { DATABASE_URL: url.toString() });
      expect(code).toBe(0);
      expect(stderr).toMatch(/database ready \(\d+ applied, 0 already applied\)/);
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL',
        );
        expect(rows[0]!.n).toBeGreaterThan(0);
      } finally {
        await client.end();
      }
    } finally {
      await dropDatabase(name);
    }
  });
});
