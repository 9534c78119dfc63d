import { Router } from 'express';
import type { Database } from '@herald/db';
import type { createAuthorizer } from '../auth';

/** Recipients, their push subscriptions, and the VAPID public key (placeholder). */
export function recipientRoutes(_deps: {
  authorize: ReturnType<typeof createAuthorizer>;
  db: Database;
  vapidPublicKey?: string;
}): Router {
  return Router();
}
