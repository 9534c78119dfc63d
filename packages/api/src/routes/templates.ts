import { Router } from 'express';
import type { Redis } from '@herald/core';
import type { Database } from '@herald/db';
import type { createAuthorizer } from '../auth';

/** Stored templates and their preview (placeholder). */
export function templateRoutes(_deps: {
  authorize: ReturnType<typeof createAuthorizer>;
  db: Database;
  redis: Redis;
  prefix: string;
}): Router {
  return Router();
}
