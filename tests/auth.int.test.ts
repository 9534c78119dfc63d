import { createHmac, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { createApp, mintToken } from '@herald/api';
import {
  signUnsubscribeToken,
  unsubscribeSecretFrom,
  type JwtVerificationConfig,
} from '@herald/core';
import {
  bearer,
  createHarness,
  TEST_JWT_SECRET,
  testJwtConfig,
  testToken,
  type Harness,
} from '@herald/testkit';

const ISSUER = testJwtConfig.issuer;
const AUDIENCE = testJwtConfig.audience;

const base64url = (value: object | string): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** Claims of a token the gateway would accept, bar whatever a test overrides. */
const claims = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  sub: 'auth-test',
  scope: 'notifications:read notifications:write',
  iss: ISSUER,
  aud: AUDIENCE,
  iat: nowSeconds(),
  exp: nowSeconds() + 600,
  ...overrides,
});

const hs256 = (payload: Record<string, unknown>, secret = TEST_JWT_SECRET): string =>
  jwt.sign(payload, secret, { algorithm: 'HS256' });

/** A token signed by hand: HMAC-SHA256 over header.payload with any bytes as the secret. */
const handSignedHs256 = (payload: Record<string, unknown>, secret: string): string => {
  const signingInput = `${base64url({ alg: 'HS256', typ: 'JWT' })}.${base64url(payload)}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
};

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

const pem = (key: KeyObject, kind: 'public' | 'private'): string =>
  key
    .export(kind === 'public' ? { type: 'spki', format: 'pem' } : { type: 'pkcs8', format: 'pem' })
    .toString();

const RSA_PUBLIC_PEM = pem(rsa.publicKey, 'public');

const asymmetricToken = (
  privateKey: KeyObject,
  algorithm: 'RS256' | 'ES256',
  scopes = ['notifications:read'],
): string =>
  mintToken({
    sub: 'asymmetric-test',
    scopes,
    ttl: '10m',
    issuer: ISSUER,
    audience: AUDIENCE,
    key: { privateKey: pem(privateKey, 'private'), algorithm },
  });

type App = ReturnType<typeof createApp>;

const validBody = {
  to: { email: 'auth@example.test' },
  channels: ['email'],
  content: { email: { subject: 'Auth', text: 'hello' } },
};

function expectProblem(res: request.Response, status: number): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toEqual(
    expect.objectContaining({ type: expect.any(String), title: expect.any(String), status }),
  );
}

function expectUnauthorized(res: request.Response): void {
  expectProblem(res, 401);
  expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
}

describe('auth: bearer tokens and scopes', () => {
  let h: Harness;

  /** The harness's app again, verifying tokens with another JWT configuration. */
  const appWith = (
    jwt: JwtVerificationConfig,
    unsubscribe: { unsubscribeSecret?: string; previousUnsubscribeSecret?: string } = {},
  ): App => h.appWith({ jwt, unsubscribeSecret: undefined, ...unsubscribe });

  let rsaApp: App;
  let ecApp: App;
  let mixedApp: App;

  beforeAll(async () => {
    h = await createHarness();
    rsaApp = appWith({
      publicKey: { key: rsa.publicKey, algorithm: 'RS256' },
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    ecApp = appWith({
      publicKey: { key: ec.publicKey, algorithm: 'ES256' },
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    mixedApp = appWith({
      ...testJwtConfig,
      publicKey: { key: rsa.publicKey, algorithm: 'RS256' },
    });
  });

  afterAll(async () => {
    await h.close();
  });

  const notificationPath = () => `/v1/notifications/${randomUUID()}`;

  /** GET of an unknown notification: 404 "No notification" means the token got through. */
  const expectAuthenticated = (res: request.Response): void => {
    expectProblem(res, 404);
    expect(res.body.detail).toMatch(/^No notification /);
  };

  const getWith = (authorization: string | undefined, app: App = h.app) => {
    const req = request(app).get(notificationPath());
    return authorization === undefined ? req : req.set('Authorization', authorization);
  };

  describe('rotating JWT_SECRET (JWT_SECRET_PREVIOUS)', () => {
    const NEW_SECRET = 'n'.repeat(48);
    let rotating: App;
    beforeAll(() => {
      rotating = appWith({ ...testJwtConfig, secret: NEW_SECRET, previousSecret: TEST_JWT_SECRET });
    });

    it('accepts tokens of the new secret and of the outgoing one', async () => {
      expectAuthenticated(await getWith(`Bearer ${hs256(claims(), NEW_SECRET)}`, rotating));
      expectAuthenticated(await getWith(`Bearer ${hs256(claims())}`, rotating));
    });

    it('refuses a token of the outgoing secret once it is no longer configured', async () => {
      const withoutPrevious = appWith({ ...testJwtConfig, secret: NEW_SECRET });
      expectUnauthorized(await getWith(`Bearer ${hs256(claims())}`, withoutPrevious));
    });

    it('keeps the unsubscribe links of emails sent before the rotation working', async () => {
      // Links are signed with a key derived from JWT_SECRET (when no UNSUBSCRIBE_SECRET is set).
      const oldKey = unsubscribeSecretFrom(undefined, TEST_JWT_SECRET)!;
      const newKey = unsubscribeSecretFrom(undefined, NEW_SECRET)!;
      await h.db.pool.query(`INSERT INTO recipients (id) VALUES ('u-rotation')`);
      const link = (key: string, category: string) =>
        `/u/${signUnsubscribeToken(key, { recipientId: 'u-rotation', category })}`;
      const app = appWith(
        { ...testJwtConfig, secret: NEW_SECRET, previousSecret: TEST_JWT_SECRET },
        { unsubscribeSecret: newKey, previousUnsubscribeSecret: oldKey },
      );
      await request(app).get(link(oldKey, 'news')).expect(200);
      await request(app).get(link(newKey, 'offers')).expect(200);
      await request(app)
        .get(link('f'.repeat(43), 'tips'))
        .expect(404);
      const { rows } = await h.db.pool.query<{ preferences: { categories: object } }>(
        `SELECT preferences FROM recipients WHERE id = 'u-rotation'`,
      );
      expect(rows[0]!.preferences.categories).toEqual({ news: false, offers: false });
      // Without the previous key, the old link is not honoured.
      const after = appWith(
        { ...testJwtConfig, secret: NEW_SECRET },
        { unsubscribeSecret: newKey },
      );
      await request(after).get(link(oldKey, 'news')).expect(404);
    });

    it('still checks the claims and refuses any other key', async () => {
      expectUnauthorized(
        await getWith(`Bearer ${hs256(claims({ exp: nowSeconds() - 10 }))}`, rotating),
      );
      expectUnauthorized(await getWith(`Bearer ${hs256(claims({ aud: 'other' }))}`, rotating));
      expectUnauthorized(await getWith(`Bearer ${hs256(claims(), 'z'.repeat(48))}`, rotating));
    });
  });

  describe('401 when the token is missing or invalid', () => {
    it('no Authorization header: a Bearer challenge and a problem document', async () => {
      const res = await getWith(undefined);
      expectUnauthorized(res);
      expect(res.headers['www-authenticate']).not.toMatch(/error=/);

      const post = await request(h.app).post('/v1/notifications').send(validBody);
      expectUnauthorized(post);
    });

    it.each([
      ['another scheme', `Basic ${Buffer.from('user:pass').toString('base64')}`],
      ['Bearer without a token', 'Bearer'],
      ['Bearer with an empty token', 'Bearer '],
      ['two tokens', `Bearer ${testToken('notifications:read')} extra`],
      ['garbage token', 'Bearer not-a-jwt'],
      ['three garbage segments', 'Bearer aaa.bbb.ccc'],
      ['a token with characters outside base64url', 'Bearer abc$def.ghi'],
    ])('%s', async (_label, authorization) => {
      expectUnauthorized(await getWith(authorization));
    });

    it('a token with a bad signature', async () => {
      const token = hs256(claims(), 'another-secret-another-secret-another-secret');
      const res = await getWith(`Bearer ${token}`);
      expectUnauthorized(res);
      expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    });

    it('a tampered payload', async () => {
      const [header, , signature] = testToken('notifications:read').split('.');
      const forged = `${header}.${base64url(claims({ scope: 'admin' }))}.${signature}`;
      expectUnauthorized(await getWith(`Bearer ${forged}`));
    });

    it('an expired token', async () => {
      const token = hs256(claims({ iat: nowSeconds() - 120, exp: nowSeconds() - 60 }));
      const res = await getWith(`Bearer ${token}`);
      expectUnauthorized(res);
      expect(res.body.detail).toMatch(/expired/);
      expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    });

    it('the wrong audience', async () => {
      expectUnauthorized(await getWith(`Bearer ${hs256(claims({ aud: 'someone-else' }))}`));
    });

    it('the wrong issuer', async () => {
      expectUnauthorized(await getWith(`Bearer ${hs256(claims({ iss: 'not-herald' }))}`));
    });

    it('a token without exp', async () => {
      const { exp: _exp, ...noExp } = claims();
      const res = await getWith(`Bearer ${hs256(noExp)}`);
      expectUnauthorized(res);
      expect(res.body.detail).toMatch(/exp/);
    });

    it('a token without sub', async () => {
      const { sub: _sub, ...noSub } = claims();
      expectUnauthorized(await getWith(`Bearer ${hs256(noSub)}`));
    });

    it('alg "none", with or without a trailing signature segment', async () => {
      const unsigned = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims({ scope: 'admin' }))}`;
      for (const token of [`${unsigned}.`, unsigned]) {
        expectUnauthorized(await getWith(`Bearer ${token}`));
        expectUnauthorized(await getWith(`Bearer ${token}`, rsaApp));
      }
    });

    it('alg "none" on POST accepts nothing', async () => {
      const token = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims({ scope: 'admin' }))}.`;
      const res = await request(h.app)
        .post('/v1/notifications')
        .set('Authorization', `Bearer ${token}`)
        .send(validBody);
      expectUnauthorized(res);
      expect(await h.db.prisma.notification.count({ where: { owner: 'auth-test' } })).toBe(0);
    });
  });

  describe('asymmetric keys (JWT_PUBLIC_KEY)', () => {
    it('accepts an RS256 token signed by the matching private key', async () => {
      expectAuthenticated(
        await getWith(`Bearer ${asymmetricToken(rsa.privateKey, 'RS256')}`, rsaApp),
      );
      expectAuthenticated(
        await getWith(`Bearer ${asymmetricToken(rsa.privateKey, 'RS256')}`, mixedApp),
      );
    });

    it('accepts an ES256 token signed by the matching private key', async () => {
      expectAuthenticated(
        await getWith(`Bearer ${asymmetricToken(ec.privateKey, 'ES256')}`, ecApp),
      );
    });

    it('rejects HS/RS confusion: HS256 signed with the public key PEM as the HMAC secret', async () => {
      const payload = claims({ scope: 'admin' });
      const forged = [
        handSignedHs256(payload, RSA_PUBLIC_PEM),
        // Some verifiers normalise the PEM; cover the usual variants.
        handSignedHs256(payload, RSA_PUBLIC_PEM.trim()),
        handSignedHs256(payload, pem(rsa.publicKey, 'public').replace(/\n/g, '\\n')),
        handSignedHs256(payload, rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString()),
      ];
      for (const token of forged) {
        const res = await getWith(`Bearer ${token}`, rsaApp);
        expectUnauthorized(res);
        expect(res.body.detail).toMatch(/algorithm HS256 is not accepted/);
        // With a shared secret configured too, the PEM is still not the secret.
        expectUnauthorized(await getWith(`Bearer ${token}`, mixedApp));
      }
      const post = await request(rsaApp)
        .post('/v1/notifications')
        .set(bearer(forged[0]!))
        .send(validBody);
      expectUnauthorized(post);
      expect(await h.db.prisma.notification.count({ where: { owner: 'auth-test' } })).toBe(0);
    });

    it('rejects an ES256 token at an RSA-configured gateway', async () => {
      const res = await getWith(`Bearer ${asymmetricToken(ec.privateKey, 'ES256')}`, rsaApp);
      expectUnauthorized(res);
      expect(res.body.detail).toMatch(/algorithm ES256 is not accepted/);
    });

    it('rejects an RS256 token at an EC-configured gateway', async () => {
      expectUnauthorized(
        await getWith(`Bearer ${asymmetricToken(rsa.privateKey, 'RS256')}`, ecApp),
      );
    });

    it('rejects an RS256 token signed by another RSA key', async () => {
      expectUnauthorized(
        await getWith(`Bearer ${asymmetricToken(otherRsa.privateKey, 'RS256')}`, rsaApp),
      );
    });

    it('rejects an HS256 token signed with the real secret at a gateway with no secret', async () => {
      expectUnauthorized(await getWith(`Bearer ${testToken('notifications:read')}`, rsaApp));
    });

    it('rejects an RS256 token at a gateway configured only with a secret', async () => {
      expectUnauthorized(await getWith(`Bearer ${asymmetricToken(rsa.privateKey, 'RS256')}`));
    });

    it('checks iss, aud and exp on asymmetric tokens too', async () => {
      const key = pem(rsa.privateKey, 'private');
      for (const overrides of [
        { iss: 'not-herald' },
        { aud: 'someone-else' },
        { iat: nowSeconds() - 120, exp: nowSeconds() - 60 },
      ]) {
        const token = jwt.sign(claims(overrides), key, { algorithm: 'RS256' });
        expectUnauthorized(await getWith(`Bearer ${token}`, rsaApp));
      }
    });
  });

  describe('403 when the token lacks the scope', () => {
    it('a read-only token cannot POST', async () => {
      const res = await request(h.app)
        .post('/v1/notifications')
        .set(bearer(testToken('notifications:read')))
        .send(validBody);
      expectProblem(res, 403);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
      expect(res.headers['www-authenticate']).toMatch(/error="insufficient_scope"/);
      expect(res.headers['www-authenticate']).toMatch(/scope="notifications:write"/);
      expect(await h.db.prisma.notification.count({ where: { owner: 'test-service' } })).toBe(0);
    });

    it('a write-only token cannot GET', async () => {
      const res = await getWith(`Bearer ${testToken('notifications:write')}`);
      expectProblem(res, 403);
      expect(res.headers['www-authenticate']).toMatch(/insufficient_scope/);
    });

    it('a token with other scopes, or none at all', async () => {
      for (const token of [
        testToken('campaigns:write templates:read'),
        testToken([]),
        hs256(claims({ scope: undefined })),
        // A scope is matched whole, not as a prefix or substring.
        testToken('notifications:readx notifications'),
      ]) {
        const res = await getWith(`Bearer ${token}`);
        expectProblem(res, 403);
        expect(res.headers['www-authenticate']).toMatch(/insufficient_scope/);
      }
    });

    it('an RS256 token lacking the scope is also 403', async () => {
      const token = asymmetricToken(rsa.privateKey, 'RS256', ['campaigns:read']);
      expectProblem(await getWith(`Bearer ${token}`, rsaApp), 403);
    });
  });

  describe('admin passes every scope check', () => {
    it('reads', async () => {
      expectAuthenticated(await getWith(`Bearer ${testToken('admin')}`));
    });

    it('writes', async () => {
      const res = await request(h.app)
        .post('/v1/notifications')
        .set(bearer(testToken('admin', 'operator')))
        .send(validBody)
        .expect(202);
      expect(res.body).toMatchObject({ status: 'queued' });
      const read = await request(h.app)
        .get(`/v1/notifications/${res.body.id}`)
        .set(bearer(testToken('admin')))
        .expect(200);
      expect(read.body.id).toBe(res.body.id);
    });

    it('an admin token signed with RS256', async () => {
      expectAuthenticated(
        await getWith(`Bearer ${asymmetricToken(rsa.privateKey, 'RS256', ['admin'])}`, rsaApp),
      );
    });
  });
});
