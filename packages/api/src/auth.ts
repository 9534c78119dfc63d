import type { RequestHandler, Response } from 'express';
import { createSecretKey } from 'node:crypto';
import jwt, { type Algorithm, type JwtPayload } from 'jsonwebtoken';
import type { JwtVerificationConfig } from '@herald/core';
import { ProblemError } from './problem';

export const SCOPES = [
  'notifications:write',
  'notifications:read',
  'campaigns:write',
  'campaigns:read',
  'recipients:write',
  'recipients:read',
  'templates:write',
  'templates:read',
  'admin',
] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  sub: string;
  scopes: ReadonlySet<string>;
}

/** The authenticated caller of this request (set by the authorizer). */
export function principalOf(res: Response): Principal {
  const principal = res.locals.principal as Principal | undefined;
  if (!principal) throw new Error('route is missing its authorizer');
  return principal;
}

const REALM = 'realm="herald"';

function unauthorized(description?: string): ProblemError {
  const challenge = description
    ? `Bearer ${REALM}, error="invalid_token", error_description="${description.replace(/"/g, "'")}"`
    : `Bearer ${REALM}`;
  return new ProblemError(401, 'Unauthorized', description ?? 'A bearer token is required.', {
    headers: { 'WWW-Authenticate': challenge },
  });
}

/**
 * Verifies bearer tokens. Algorithms are pinned per key: the HS256 secret
 * verifies only HS256 tokens and the public key only its own algorithm, so
 * `alg: none` and HS/RS confusion (signing HS256 with the public key) fail.
 */
export function createTokenVerifier(config: JwtVerificationConfig): (token: string) => Principal {
  // A KeyObject made once: given a string, jsonwebtoken would try (and fail)
  // to parse it as a public key on every request.
  const secret =
    config.secret !== undefined ? createSecretKey(Buffer.from(config.secret, 'utf8')) : undefined;
  // During a rotation, the outgoing secret still verifies (it never signs).
  const previous =
    config.previousSecret !== undefined
      ? createSecretKey(Buffer.from(config.previousSecret, 'utf8'))
      : undefined;
  // Services send the same token many times: remember verified ones until they expire.
  const verified = new Map<string, { principal: Principal; expiresAt: number }>();

  function verify(token: string): { principal: Principal; expiresAt: number } {
    const decoded = jwt.decode(token, { complete: true });
    if (!decoded || typeof decoded === 'string' || typeof decoded.header?.alg !== 'string') {
      throw unauthorized('malformed token');
    }
    const alg = decoded.header.alg as Algorithm;
    let keys: (jwt.Secret | jwt.PublicKey)[];
    if (alg === 'HS256' && secret !== undefined) keys = previous ? [secret, previous] : [secret];
    else if (config.publicKey && alg === config.publicKey.algorithm) keys = [config.publicKey.key];
    else throw unauthorized(`algorithm ${alg} is not accepted`);

    let payload: JwtPayload | undefined;
    for (const [i, key] of keys.entries()) {
      try {
        payload = jwt.verify(token, key, {
          algorithms: [alg],
          issuer: config.issuer,
          audience: config.audience,
        }) as JwtPayload;
        break;
      } catch (err) {
        const { name, message } = err as Error;
        // Signed with another key: the next one (the outgoing secret) may be it.
        if (message === 'invalid signature' && i < keys.length - 1) continue;
        throw unauthorized(name === 'TokenExpiredError' ? 'token expired' : message);
      }
    }
    if (!payload) throw unauthorized('invalid signature');
    if (typeof payload.exp !== 'number') throw unauthorized('token has no exp');
    if (typeof payload.sub !== 'string' || payload.sub === '')
      throw unauthorized('token has no sub');
    const scope: unknown = payload.scope;
    const scopes = typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [];
    return {
      principal: { sub: payload.sub, scopes: new Set(scopes) },
      expiresAt: payload.exp * 1000,
    };
  }

  return (token) => {
    const known = verified.get(token);
    if (known && known.expiresAt > Date.now()) return known.principal;
    const fresh = verify(token);
    if (verified.size >= 1000) verified.clear();
    verified.set(token, fresh);
    return fresh.principal;
  };
}

/** Authenticates the request (401) and requires one of the scopes (403); `admin` passes every check. */
export function createAuthorizer(verify: (token: string) => Principal) {
  return (...scopes: Scope[]): RequestHandler =>
    (req, res, next) => {
      const header = req.headers.authorization;
      const match = header ? /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(header) : null;
      if (!header) throw unauthorized();
      if (!match?.[1]) throw unauthorized('malformed authorization header');
      const principal = verify(match[1]);
      const allowed = principal.scopes.has('admin') || scopes.some((s) => principal.scopes.has(s));
      if (!allowed) {
        throw new ProblemError(403, 'Forbidden', `This needs the scope ${scopes.join(' or ')}.`, {
          headers: {
            'WWW-Authenticate': `Bearer ${REALM}, error="insufficient_scope", scope="${scopes.join(' ')}"`,
          },
        });
      }
      res.locals.principal = principal;
      next();
    };
}
