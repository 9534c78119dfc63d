import jwt, { type Algorithm } from 'jsonwebtoken';

export interface MintTokenOptions {
  sub: string;
  scopes: readonly string[];
  /** Lifetime: seconds, or a string such as "1h", "30m", "7d". */
  ttl: string | number;
  issuer: string;
  audience: string;
  /** HS256 secret, or a PEM private key with its algorithm. */
  key:
    { secret: string } | { privateKey: string; algorithm: Extract<Algorithm, 'RS256' | 'ES256'> };
}

/** Signs a service token the gateway accepts (`pnpm herald token`, tests). */
export function mintToken(options: MintTokenOptions): string {
  const payload = { scope: options.scopes.join(' ') };
  const common = {
    subject: options.sub,
    issuer: options.issuer,
    audience: options.audience,
    expiresIn: options.ttl as jwt.SignOptions['expiresIn'],
  };
  return 'secret' in options.key
    ? jwt.sign(payload, options.key.secret, { ...common, algorithm: 'HS256' })
    : jwt.sign(payload, options.key.privateKey, { ...common, algorithm: options.key.algorithm });
}
