import { generateKeyPairSync } from 'node:crypto';
import { loadMigrateConfig, loadStartConfig, loadTokenConfig } from './cli';
import { ConfigError } from './env';
import { loadGatewayConfig, unsubscribeSecretFrom } from './gateway';
import { loadSchedulerConfig } from './scheduler';
import { loadChannelWorkerConfig, loadEmailConfig } from './worker';

const SECRET = 'x'.repeat(32);

const ecPem = () =>
  String(
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      type: 'spki',
      format: 'pem',
    }),
  );

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => p.variable);
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('scheduler configuration', () => {
  it('keeps every notification unless RETENTION_DAYS says how many days to keep', () => {
    expect(loadSchedulerConfig({}).retentionDays).toBe(0);
    expect(loadSchedulerConfig({ RETENTION_DAYS: '90' }).retentionDays).toBe(90);
    for (const bad of ['-1', 'month', '36501']) {
      expect(problemsOf(() => loadSchedulerConfig({ RETENTION_DAYS: bad }))).toEqual([
        'RETENTION_DAYS',
      ]);
    }
  });
});

describe('gateway configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadGatewayConfig({ JWT_SECRET: SECRET });
    expect(config).toMatchObject({
      port: 3000,
      processes: 1,
      redisUrl: 'redis://127.0.0.1:6379',
      databaseUrl: 'postgresql://postgres@127.0.0.1:5432/herald',
      queuePrefix: '{herald}',
      logLevel: 'info',
      publicUrl: 'http://localhost:3000',
      jwt: { issuer: 'herald', audience: 'herald-api', secret: SECRET },
      retry: { baseMs: 1000, maxMs: 600_000, attempts: { transactional: 5, campaign: 3 } },
    });
    expect(config.admin).toBeUndefined();
  });

  it('runs GATEWAY_PROCESSES processes, from 1 to 64', () => {
    expect(loadGatewayConfig({ JWT_SECRET: SECRET, GATEWAY_PROCESSES: '4' }).processes).toBe(4);
    for (const bad of ['0', '65', 'two', '1.5']) {
      expect(
        problemsOf(() => loadGatewayConfig({ JWT_SECRET: SECRET, GATEWAY_PROCESSES: bad })),
      ).toEqual(['GATEWAY_PROCESSES']);
    }
  });

  it('refuses to start without JWT_SECRET or JWT_PUBLIC_KEY, naming the variable', () => {
    expect(problemsOf(() => loadGatewayConfig({}))).toEqual(['JWT_SECRET']);
  });

  it('treats an empty variable as unset', () => {
    expect(loadGatewayConfig({ JWT_SECRET: SECRET, PORT: '' }).port).toBe(3000);
  });

  it('names every invalid variable at once', () => {
    const names = problemsOf(() =>
      loadGatewayConfig({
        JWT_SECRET: 'short',
        PORT: 'eighty',
        REDIS_URL: 'not a url',
        DATABASE_URL: 'mysql://x',
        LOG_LEVEL: 'loud',
        ATTEMPTS_TRANSACTIONAL: '0',
        QUEUE_PREFIX: 'a:b',
      }),
    ).sort();
    expect(names).toEqual(
      [
        'ATTEMPTS_TRANSACTIONAL',
        'DATABASE_URL',
        'JWT_SECRET',
        'LOG_LEVEL',
        'PORT',
        'QUEUE_PREFIX',
        'REDIS_URL',
      ].sort(),
    );
  });

  it('derives the pinned algorithm from the public key type', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    expect(loadGatewayConfig({ JWT_PUBLIC_KEY: String(rsa) }).jwt.publicKey?.algorithm).toBe(
      'RS256',
    );
    // One-line PEMs with literal \n, as environments often carry them.
    const oneLine = String(ec).replace(/\n/g, '\\n');
    expect(loadGatewayConfig({ JWT_PUBLIC_KEY: oneLine }).jwt.publicKey?.algorithm).toBe('ES256');
    expect(problemsOf(() => loadGatewayConfig({ JWT_PUBLIC_KEY: 'not a key' }))).toEqual([
      'JWT_PUBLIC_KEY',
    ]);
  });

  it('takes JWT_SECRET_PREVIOUS for a rotation, only beside a new JWT_SECRET', () => {
    const OLD = 'o'.repeat(32);
    const rotating = loadGatewayConfig({ JWT_SECRET: SECRET, JWT_SECRET_PREVIOUS: OLD });
    expect(rotating.jwt).toMatchObject({ secret: SECRET, previousSecret: OLD });
    // Links signed before the rotation: the key derived from the old secret.
    expect(rotating.previousUnsubscribeSecret).toBe(unsubscribeSecretFrom(undefined, OLD));
    expect(rotating.unsubscribeSecret).toBe(unsubscribeSecretFrom(undefined, SECRET));
    // An explicit UNSUBSCRIBE_SECRET does not change with JWT_SECRET: nothing to carry over.
    expect(
      loadGatewayConfig({
        JWT_SECRET: SECRET,
        JWT_SECRET_PREVIOUS: OLD,
        UNSUBSCRIBE_SECRET: 'u'.repeat(32),
      }).previousUnsubscribeSecret,
    ).toBeUndefined();
    expect(loadGatewayConfig({ JWT_SECRET: SECRET }).jwt.previousSecret).toBeUndefined();
    expect(
      problemsOf(() => loadGatewayConfig({ JWT_SECRET: SECRET, JWT_SECRET_PREVIOUS: 'short' })),
    ).toEqual(['JWT_SECRET_PREVIOUS']);
    expect(
      problemsOf(() => loadGatewayConfig({ JWT_PUBLIC_KEY: ecPem(), JWT_SECRET_PREVIOUS: OLD })),
    ).toEqual(['JWT_SECRET_PREVIOUS']);
  });

  it('wants ADMIN_USER and ADMIN_PASSWORD together', () => {
    expect(problemsOf(() => loadGatewayConfig({ JWT_SECRET: SECRET, ADMIN_USER: 'ops' }))).toEqual([
      'ADMIN_PASSWORD',
    ]);
    expect(
      loadGatewayConfig({ JWT_SECRET: SECRET, ADMIN_USER: 'ops', ADMIN_PASSWORD: 'long-enough' })
        .admin,
    ).toEqual({
      user: 'ops',
      password: 'long-enough',
    });
  });
});

describe('channel worker configuration', () => {
  it('reads the channel-prefixed variables with per-channel defaults', () => {
    expect(loadChannelWorkerConfig('email', {})).toMatchObject({
      metricsPort: 9101,
      concurrency: 20,
      ratePerSecond: 0,
    });
    expect(loadChannelWorkerConfig('telegram', {})).toMatchObject({
      metricsPort: 9102,
      ratePerSecond: 30,
    });
    expect(
      loadChannelWorkerConfig('webhook', { WEBHOOK_CONCURRENCY: '7', METRICS_PORT: '9999' }),
    ).toMatchObject({
      concurrency: 7,
      metricsPort: 9999,
    });
  });

  it('names the channel variable that is wrong', () => {
    expect(
      problemsOf(() => loadChannelWorkerConfig('email', { EMAIL_CONCURRENCY: 'lots' })),
    ).toEqual(['EMAIL_CONCURRENCY']);
    expect(
      problemsOf(() => loadChannelWorkerConfig('push', { PUSH_RATE_PER_SECOND: '-1' })),
    ).toEqual(['PUSH_RATE_PER_SECOND']);
  });

  it('writes .eml files when SMTP_URL is unset, and validates it when set', () => {
    expect(loadEmailConfig({})).toEqual({
      smtpUrl: undefined,
      from: 'Herald <herald@localhost>',
      outboxDir: './var/outbox',
    });
    expect(problemsOf(() => loadEmailConfig({ SMTP_URL: 'http://mail' }))).toEqual(['SMTP_URL']);
  });
});

describe('CLI configuration', () => {
  it('reads only what each command needs', () => {
    expect(loadMigrateConfig({ JWT_SECRET: 'short' })).toEqual({
      databaseUrl: 'postgresql://postgres@127.0.0.1:5432/herald',
    });
    expect(loadTokenConfig({ DATABASE_URL: 'not-a-url' })).toEqual({
      secret: undefined,
      issuer: 'herald',
      audience: 'herald-api',
    });
    expect(loadStartConfig({ JWT_PUBLIC_KEY: 'x' }).jwtKeyConfigured).toBe(true);
    expect(loadStartConfig({ JWT_SECRET: '' }).jwtKeyConfigured).toBe(false);
  });

  it('names the variable that is wrong', () => {
    expect(problemsOf(() => loadMigrateConfig({ DATABASE_URL: 'not-a-url' }))).toEqual([
      'DATABASE_URL',
    ]);
    expect(problemsOf(() => loadStartConfig({ DATABASE_URL: 'redis://x' }))).toEqual([
      'DATABASE_URL',
    ]);
    expect(problemsOf(() => loadTokenConfig({ JWT_SECRET: 'short' }))).toEqual(['JWT_SECRET']);
  });
});
