import { createECDH, randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
const ENV_FILE = path.join(ROOT, '.env');

/** Loads ./.env (when present) into process.env without overriding what is already set. */
export function loadLocalEnv(): void {
  if (existsSync(ENV_FILE)) process.loadEnvFile(ENV_FILE);
}

/**
 * First run on a developer machine: the gateway refuses to start without a
 * JWT key, so create .env with fresh random secrets (never committed) and say
 * so. Returns true when it did (load it to use them).
 */
export function ensureLocalSecrets(
  jwtKeyConfigured: boolean,
  log: (message: string) => void,
): boolean {
  if (jwtKeyConfigured || existsSync(ENV_FILE)) return false;
  const secret = () => randomBytes(32).toString('base64url');
  // A VAPID key pair (P-256) so the push channel works locally too.
  const vapid = createECDH('prime256v1');
  vapid.generateKeys();
  writeFileSync(
    ENV_FILE,
    [
      '# Created by `pnpm start` for local development. Not for production.',
      `JWT_SECRET=${secret()}`,
      `WEBHOOK_SIGNING_SECRET=${secret()}`,
      `VAPID_PUBLIC_KEY=${vapid.getPublicKey('base64url')}`,
      `VAPID_PRIVATE_KEY=${vapid.getPrivateKey('base64url')}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  log(
    `created ${ENV_FILE} with a random JWT_SECRET, WEBHOOK_SIGNING_SECRET and VAPID key pair for local use`,
  );
  return true;
}
