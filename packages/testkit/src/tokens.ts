import { mintToken } from '@herald/api';
import type { JwtVerificationConfig } from '@herald/core';

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789';

export const testJwtConfig: JwtVerificationConfig = {
  secret: TEST_JWT_SECRET,
  issuer: 'herald',
  audience: 'herald-api',
};

export function testToken(
  scopes: string[] | string,
  sub = 'test-service',
  ttl: string | number = '10m',
): string {
  return mintToken({
    sub,
    scopes: typeof scopes === 'string' ? scopes.split(' ') : scopes,
    ttl,
    issuer: testJwtConfig.issuer,
    audience: testJwtConfig.audience,
    key: { secret: TEST_JWT_SECRET },
  });
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
