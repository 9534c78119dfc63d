import jwt from 'jsonwebtoken';

/**
 * The signed part of an unsubscribe link: who leaves which category. No
 * expiry (a link in an old email must still work); HS256 with its own secret.
 */
export interface UnsubscribeClaim {
  recipientId: string;
  category: string;
}

export function signUnsubscribeToken(secret: string, claim: UnsubscribeClaim): string {
  return jwt.sign({ cat: claim.category }, secret, {
    algorithm: 'HS256',
    subject: claim.recipientId,
    noTimestamp: true,
  });
}

/** The claim of a valid token, or undefined. */
export function verifyUnsubscribeToken(
  secret: string,
  token: string,
): UnsubscribeClaim | undefined {
  try {
    const payload = jwt.verify(token, secret, { algorithms: ['HS256'] }) as jwt.JwtPayload;
    if (typeof payload.sub !== 'string' || typeof payload.cat !== 'string') return undefined;
    return { recipientId: payload.sub, category: payload.cat };
  } catch {
    return undefined;
  }
}
